import os
from types import TracebackType
from typing import Literal, Self

UNITS: dict[str, int]

class NonceFileError(ValueError):
    """The nonce file exists but is not a nonce file for this unit."""

class NonceAllocator:
    """Nonces above every nonce any process sharing path got, never below the clock."""

    path: str
    unit: Literal["ns", "us", "ms"]
    def __init__(self, path: str | os.PathLike[str], unit: Literal["ns", "us", "ms"]) -> None: ...
    def next(self) -> int:
        """The next nonce: above every one handed out, and not below the clock."""
    def peek(self) -> int:
        """The high-water mark: the last nonce any process got (0 if none)."""
    def sync(self) -> None:
        """Flush the mark to disk (msync); only matters if the host goes down."""
    def close(self) -> None:
        """Unmap the file. Idempotent; the mark stays in the file."""
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]: ...
