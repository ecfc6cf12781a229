"""Protocol-faithful venue simulators on one matching engine (engine.py)."""
