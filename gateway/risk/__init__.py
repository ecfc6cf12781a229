"""Pre-trade risk: the [risk] tables (config.py), the limits in force for each strategy and
symbol (effective.py), the open orders' running sums (exposure.py) and the checks (checks.py)."""
from gateway.risk.checks import RiskError, RiskLimits
from gateway.risk.config import RiskConfig

__all__ = ["RiskConfig", "RiskError", "RiskLimits"]
