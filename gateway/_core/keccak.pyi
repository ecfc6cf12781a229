from collections.abc import Buffer

def keccak256(data: Buffer) -> bytes:
    """32-byte keccak-256 digest (Ethereum's padding, not SHA3-256)."""
