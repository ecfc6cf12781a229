import os

from hypothesis import HealthCheck, settings

# CI machines are shared and slow; hypothesis deadlines would flake on them
settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")
os.environ.setdefault("GATEWAY_LOG_LEVEL", "warning")
