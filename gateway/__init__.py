"""order-gateway: strategies on a Unix socket, signed orders to venues."""

__version__ = "0.1.0"
