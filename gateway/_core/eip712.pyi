from collections.abc import Iterable

KINDS: dict[str, int]

class StructHasher:
    type_name: str
    type_hash: bytes
    domain_separator: bytes
    field_names: tuple[str, ...]
    def __init__(
        self, type_name: str, type_hash: bytes, domain_separator: bytes,
        fields: Iterable[tuple[str, str, int]],
    ) -> None: ...
    def struct_hash(self, values: tuple[object, ...]) -> bytes: ...
    def digest(self, values: tuple[object, ...]) -> bytes: ...
