import os

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.eip712 import StructType, encode_type, hash_typed_data, sign_typed_data
from gateway.signer import Signer, checksum_address, recover_address
from tests.typed_data import (
    BSX_TESTNET_DOMAIN,
    BSX_TYPES,
    CITREX_DOMAIN,
    CITREX_TYPES,
    NESTED_TYPES,
    citrex_message,
)

addresses = st.binary(min_size=20, max_size=20).map(checksum_address)
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
keys = st.integers(min_value=1, max_value=SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))


def full(types, domain, primary, message):
    return {"types": types, "primaryType": primary, "domain": domain, "message": message}


def eth_digest(fm) -> bytes:
    return _hash_eip191_message(encode_typed_data(full_message=fm))


citrex_orders = st.fixed_dictionaries({
    "account": addresses,
    "subAccountId": st.integers(0, 255),
    "productId": st.integers(0, 2**32 - 1),
    "isBuy": st.booleans(),
    "orderType": st.integers(0, 2),
    "timeInForce": st.integers(0, 2),
    "expiration": st.integers(0, 2**64 - 1),
    "price": st.integers(0, 2**128 - 1),
    "quantity": st.integers(0, 2**128 - 1),
    "nonce": st.integers(0, 2**64 - 1),
})

bsx_orders = st.fixed_dictionaries({
    "sender": addresses,
    "size": st.integers(0, 2**128 - 1),
    "price": st.integers(0, 2**128 - 1),
    "nonce": st.integers(0, 2**64 - 1),
    "productIndex": st.integers(0, 255),
    "orderSide": st.integers(0, 1),
})

people = st.fixed_dictionaries({
    "name": st.text(max_size=20),
    "wallets": st.lists(addresses, max_size=3),
})

mails = st.fixed_dictionaries({
    "from": people,
    "to": st.lists(people, max_size=3),
    "contents": st.text(max_size=100),
    "attachment": st.binary(max_size=200),
    "tag": st.binary(min_size=8, max_size=8),
    "balance": st.integers(-(2**63), 2**63 - 1),
    "flags": st.lists(st.booleans(), min_size=2, max_size=2),
    "group": st.fixed_dictionaries({
        "name": st.text(max_size=10),
        "id": st.integers(0, 2**256 - 1),
        "members": st.lists(people, max_size=2),
    }),
})


@settings(max_examples=60)
@given(key=keys, message=citrex_orders)
def test_citrex_order_signature_is_byte_identical_to_eth_account(key, message):
    fm = full(CITREX_TYPES, CITREX_DOMAIN, "Order", message)
    expected = Account.sign_message(encode_typed_data(full_message=fm), key).signature
    assert sign_typed_data(key, fm) == bytes(expected)


@settings(max_examples=60)
@given(key=keys, message=bsx_orders)
def test_bsx_order_signature_is_byte_identical_to_eth_account(key, message):
    fm = full(BSX_TYPES, BSX_TESTNET_DOMAIN, "Order", message)
    expected = Account.sign_message(encode_typed_data(full_message=fm), key).signature
    assert sign_typed_data(key, fm) == bytes(expected)


@settings(max_examples=80)
@given(message=mails)
def test_nested_structs_and_arrays_hash_like_eth_account(message):
    fm = full(NESTED_TYPES, CITREX_DOMAIN, "Mail", message)
    assert hash_typed_data(fm) == eth_digest(fm)


def test_bsx_known_vector_from_its_sdk_example():
    fm = full(BSX_TYPES, BSX_TESTNET_DOMAIN, "Order", {
        "sender": "0x" + "00" * 19 + "01",
        "size": 1_230_000_000_000_000_000,
        "price": 123_400_000_000_000_000_000,
        "nonce": 1632816000000000000,
        "productIndex": 1,
        "orderSide": 0,
    })
    key = (1).to_bytes(32, "big")
    expected = Account.sign_message(encode_typed_data(full_message=fm), key).signature
    sig = sign_typed_data(key, fm)
    assert sig == bytes(expected)
    assert recover_address(hash_typed_data(fm), sig) == Signer(key).address


def test_type_string_lists_dependencies_sorted_after_primary():
    assert encode_type("Mail", NESTED_TYPES) == (
        "Mail(Person from,Person[] to,string contents,bytes attachment,bytes8 tag,int64 balance,"
        "bool[2] flags,Group group)"
        "Group(string name,uint256 id,Person[] members)"
        "Person(string name,address[] wallets)"
    )


def test_domain_type_is_inferred_when_absent():
    types = {k: v for k, v in CITREX_TYPES.items() if k != "EIP712Domain"}
    message = citrex_message(Signer(os.urandom(32)).address)
    assert hash_typed_data(full(types, CITREX_DOMAIN, "Order", message)) == hash_typed_data(
        full(CITREX_TYPES, CITREX_DOMAIN, "Order", message)
    )


@settings(max_examples=200)
@given(message=citrex_orders)
def test_fast_path_matches_general_encoder(message):
    order = StructType(CITREX_TYPES, "Order", CITREX_DOMAIN)
    values = tuple(message[name] for name in order.field_names)
    fm = full(CITREX_TYPES, CITREX_DOMAIN, "Order", message)
    assert order.digest(values) == hash_typed_data(fm) == eth_digest(fm)


def test_fast_path_first_block_cache_tracks_changes():
    # the first 136 bytes hold account and product: switching between them must not reuse state
    order = StructType(CITREX_TYPES, "Order", CITREX_DOMAIN)
    a, b = (Signer(os.urandom(32)).address for _ in range(2))
    for account in (a, b, a, a, b):
        message = citrex_message(account)
        values = tuple(message[name] for name in order.field_names)
        assert order.digest(values) == hash_typed_data(full(CITREX_TYPES, CITREX_DOMAIN, "Order", message))


def test_fast_path_takes_address_bytes_and_bool():
    order = StructType(CITREX_TYPES, "Order", CITREX_DOMAIN)
    signer = Signer(os.urandom(32))
    message = citrex_message(signer.address)
    values = tuple(message[name] for name in order.field_names)
    assert order.digest((signer.address_bytes,) + values[1:]) == order.digest(values)


@pytest.mark.parametrize(
    ("index", "value", "error", "match"),
    [
        (1, 256, ValueError, r"Order.subAccountId: 256 does not fit in uint8"),
        (1, -1, ValueError, r"Order.subAccountId: -1 does not fit in uint8"),
        (7, 2**128, ValueError, r"Order.price: .* does not fit in uint128"),
        (7, "100", TypeError, r"Order.price: uint128 takes an int"),
        (7, 1.5, TypeError, r"Order.price: uint128 takes an int"),
        (3, 1, TypeError, r"Order.isBuy: bool takes True or False"),
        (0, "0x1234", ValueError, r"Order.account: address must be 0x followed by 40 hex digits"),
        (0, "0x" + "zz" * 20, ValueError, r"Order.account: address has a non-hex digit"),
        (4, True, TypeError, r"Order.orderType: uint8 takes an int, got bool"),
    ],
)
def test_fast_path_rejects_bad_values_with_field_names(index, value, error, match):
    order = StructType(CITREX_TYPES, "Order", CITREX_DOMAIN)
    message = citrex_message("0x" + "11" * 20)
    values = list(message[name] for name in order.field_names)
    values[index] = value
    with pytest.raises(error, match=match):
        order.digest(tuple(values))


def test_fast_path_rejects_wrong_arity():
    order = StructType(CITREX_TYPES, "Order", CITREX_DOMAIN)
    with pytest.raises(ValueError, match="takes 10 values, got 2"):
        order.digest((1, 2))


def test_fast_path_signed_ints_match_general_encoder():
    types = {"EIP712Domain": CITREX_TYPES["EIP712Domain"], "T": [
        {"name": "a", "type": "int8"}, {"name": "b", "type": "int256"}, {"name": "c", "type": "bytes4"},
        {"name": "d", "type": "string"}, {"name": "e", "type": "bytes"},
    ]}
    t = StructType(types, "T", CITREX_DOMAIN)
    for a, b in [(-128, -(2**255)), (127, 2**255 - 1), (-1, 0)]:
        msg = {"a": a, "b": b, "c": b"\x01\x02\x03\x04", "d": "héllo", "e": b"\xff" * 300}
        assert t.digest(tuple(msg.values())) == eth_digest(full(types, CITREX_DOMAIN, "T", msg))
    with pytest.raises(ValueError, match="does not fit in int8"):
        t.digest((128, 0, b"\0" * 4, "", b""))
    with pytest.raises(ValueError, match="does not fit in int8"):
        t.digest((-129, 0, b"\0" * 4, "", b""))


def test_struct_with_nested_type_has_no_fast_path():
    with pytest.raises(ValueError, match="no fast path"):
        StructType(NESTED_TYPES, "Mail", CITREX_DOMAIN)


def test_general_encoder_errors_are_specific():
    fm = full(CITREX_TYPES, CITREX_DOMAIN, "Order", citrex_message("0x" + "11" * 20))
    del fm["message"]["nonce"]
    with pytest.raises(ValueError, match="Order.nonce is missing"):
        hash_typed_data(fm)
    fm = full(CITREX_TYPES, CITREX_DOMAIN, "Order", citrex_message("0x" + "11" * 20))
    fm["message"]["subAccountId"] = 300
    with pytest.raises(ValueError, match="uint8: 300 is out of range"):
        hash_typed_data(fm)
