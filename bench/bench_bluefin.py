"""Bluefin Pro order signing: the payload, its digest, the ed25519 signature,
against signing a Citrex order (EIP-712 + secp256k1) in the same run."""
import json

import pytest

from gateway.signer import Signer
from gateway.eip712 import StructType
from gateway.venues.bluefin.signing import Ed25519Key, order_hash, order_json, order_signing_digest
from tests.typed_data import CITREX_DOMAIN, CITREX_TYPES, citrex_message

KEY = Ed25519Key(bytes(range(32)))
IDS = "0x" + "1d" * 32
FIELDS = (IDS, KEY.address, "ETH-PERP", 3000_500_000_000, 1_000_000_000, 3_000_000_000, "LONG", "CROSS",
          1_700_000_060_000, 1_700_000_000_000_123, 1_700_000_000_000)
NAMES = ("ids", "account", "market", "price", "quantity", "leverage", "side", "positionType", "expiration",
         "salt", "signedAt")
PAYLOAD = order_json(*FIELDS)

CITREX_KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
CITREX_SIGNER = Signer(CITREX_KEY)
CITREX_ORDER = StructType(CITREX_TYPES, "Order", CITREX_DOMAIN)
CITREX_MESSAGE = citrex_message(CITREX_SIGNER.address)
CITREX_VALUES = tuple(CITREX_MESSAGE[name] for name in CITREX_ORDER.field_names)


def _json_dumps(*fields) -> bytes:
    return json.dumps({"type": "Bluefin Pro Order", **{n: str(v) for n, v in zip(NAMES, fields)}},
                      indent=2).encode()


@pytest.mark.benchmark(group="bluefin-payload")
def test_payload_template(benchmark):
    assert benchmark(order_json, *FIELDS) == _json_dumps(*FIELDS)


@pytest.mark.benchmark(group="bluefin-payload")
def test_payload_baseline_json_dumps(benchmark):
    assert benchmark(_json_dumps, *FIELDS) == PAYLOAD


@pytest.mark.benchmark(group="bluefin-payload")
def test_payload_digest_and_hash(benchmark):
    benchmark(lambda: (order_signing_digest(order_json(*FIELDS)), order_hash(*FIELDS)))


@pytest.mark.benchmark(group="sign-order-bluefin-vs-citrex")
def test_sign_baseline_citrex_order(benchmark):
    benchmark(lambda: CITREX_SIGNER.sign_digest(CITREX_ORDER.digest(CITREX_VALUES)))


@pytest.mark.benchmark(group="sign-order-bluefin-vs-citrex")
def test_sign_bluefin_order(benchmark):
    """What the adapter does per order: payload, signature, hash."""
    benchmark(lambda: (KEY.sign_order(order_json(*FIELDS)), order_hash(*FIELDS)))


@pytest.mark.benchmark(group="sign-order-bluefin-vs-citrex")
def test_sign_bluefin_ed25519_only_on_ready_digest(benchmark):
    digest = order_signing_digest(PAYLOAD)
    benchmark(KEY.serialized, digest)
