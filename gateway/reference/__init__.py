"""Reference data from the venues: their instrument lists (checked against the config) and
their public prices (the reference price risk checks against)."""
