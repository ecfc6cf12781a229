"""Drop copy: every order change to NATS JetStream, and the fleet's control subjects.

Only gateway/dropcopy/config.py is imported by a gateway without `[drop_copy]`: the
publisher, the control subscriber and the consumers import nats-py (the `dropcopy`
extra) when they are used.
"""
