"""order-gateway: strategies on a Unix socket, signed orders to venues."""

__version__ = "0.1.0"

__all__ = ["GatewayClient", "__version__"]


def __getattr__(name: str):
    # lazy: `import gateway` stays cheap for the CLI and the core
    if name == "GatewayClient":
        from gateway.ipc.client import GatewayClient

        return GatewayClient
    raise AttributeError(name)
