from collections.abc import Buffer

class FrameError(ValueError):
    """The byte stream is not valid framing; the connection cannot recover."""

    frames: list[bytes]
    """Whole frames that preceded the bad header in the same feed() call."""
    def __init__(self, message: str, frames: list[bytes] | tuple[bytes, ...] = ()) -> None: ...

class FrameSplitter:
    """Cuts a stream of 4-byte big-endian length-prefixed frames into payloads."""

    max_frame: int
    def __init__(self, max_frame: int = 1 << 20) -> None: ...
    def feed(self, data: Buffer) -> list[bytes]:
        """Add a chunk of the stream; return the payloads of the frames it completed."""
    @property
    def buffered(self) -> int:
        """Bytes held back: the start of a frame not yet complete."""
    @property
    def failed(self) -> bool: ...

def encode_frame(payload: Buffer) -> bytes:
    """Length prefix (4 bytes, big-endian) followed by payload."""
