"""EIP-712 widths: uint/int 8 to 256 bits in steps of 8, bytes1 to bytes32. Anything
else is a clear ValueError from StructType, the compiled StructHasher and the
general encoder, never a crash: each case runs in a child process, so a segfault
(StructType once copied bytes4096 into a 32-byte slot) fails the test instead of
ending the run."""
from __future__ import annotations

import subprocess
import sys

import pytest

from gateway.eip712 import StructType, hash_typed_data
from tests.typed_data import CITREX_DOMAIN

BAD = ["bytes4096", "bytes33", "bytes0", "uint7", "uint264", "uint0", "int4", "int512", "uint1024"]
GOOD = ["bytes1", "bytes32", "uint8", "uint256", "int8", "int256", "uint48", "int136"]

CHILD = """
import sys
from gateway.eip712 import StructType
from gateway._core.eip712 import StructHasher
kind = sys.argv[1]
types = {"EIP712Domain": [{"name": "name", "type": "string"}], "T": [{"name": "x", "type": kind}]}
for build in (lambda: StructType(types, "T", {"name": "t"}),
              lambda: StructHasher("T", bytes(32), bytes(32),
                                   [("x", "bytesN" if kind.startswith("bytes") else kind.rstrip("0123456789"),
                                     int(kind.lstrip("bytesuint")))])):
    try:
        h = build()
    except ValueError as exc:
        print("refused:", exc)
        continue
    value = bytes(int(kind[5:])) if kind.startswith("bytes") else 1
    print("hashed", h.struct_hash((value,)).hex())
"""


def child(kind: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD, kind], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("kind", BAD)
def test_a_width_eip712_lacks_is_refused_clearly_by_the_native_path(kind):
    run = child(kind)
    assert run.returncode == 0, f"child died with {run.returncode}: {run.stderr[-500:]}"
    lines = run.stdout.splitlines()
    assert len(lines) == 2 and all(l.startswith("refused:") and "is not an EIP-712 type" in l
                                   for l in lines), run.stdout


@pytest.mark.parametrize("kind", GOOD)
def test_every_width_eip712_has_is_hashed(kind):
    run = child(kind)
    assert run.returncode == 0, run.stderr
    assert [l.split()[0] for l in run.stdout.splitlines()] == ["hashed", "hashed"]


@pytest.mark.parametrize("kind", BAD)
def test_the_general_encoder_refuses_the_same_widths(kind):
    value = "0x00" if kind.startswith("bytes") else 1
    with pytest.raises(ValueError, match="is not an EIP-712 type"):
        hash_typed_data({"types": {"EIP712Domain": [{"name": "name", "type": "string"}],
                                   "T": [{"name": "x", "type": kind}]},
                         "primaryType": "T", "domain": {"name": "t"}, "message": {"x": value}})


def test_struct_type_names_the_field():
    with pytest.raises(ValueError, match="field 'x': bytes4096 is not an EIP-712 type"):
        StructType({"EIP712Domain": [{"name": "name", "type": "string"}], "T": [{"name": "x", "type": "bytes4096"}]},
                   "T", CITREX_DOMAIN | {"name": "t"})
