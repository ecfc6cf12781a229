"""BSX's EIP-712 Order struct, resolved once per domain (compiled fast path),
and the HMAC of the WS auth."""
from __future__ import annotations

import hashlib
import hmac

from gateway.eip712 import StructType
from gateway.signer import Signer
from gateway.venues.bsx import schemas


def domain(name: str, version: str, chain_id: int, verifying_contract: str) -> dict:
    return {"name": name, "version": version, "chainId": chain_id, "verifyingContract": verifying_contract}


def order_type(dom: dict) -> StructType:
    return StructType(schemas.eip712_types(), "Order", dom)


class BsxSigner:
    """Signs orders with the signer key on behalf of `sender` (the main wallet)."""

    __slots__ = ("signer", "sender", "order")

    def __init__(self, signer: Signer, sender: str, dom: dict):
        self.signer = signer
        self.sender = sender
        self.order = order_type(dom)

    def sign_order(self, size_e18: int, price_e18: int, nonce: int, product_index: int, side: int) -> str:
        digest = self.order.digest((self.sender, size_e18, price_e18, nonce, product_index, side))
        return "0x" + self.signer.sign_digest(digest).hex()


def ws_auth_signature(api_secret: str, api_key: str, timestamp_ns: str) -> str:
    return hmac.new(api_secret.encode(), f"{api_key},{timestamp_ns}".encode(), hashlib.sha256).hexdigest()
