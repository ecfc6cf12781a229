"""Citrex's EIP-712 structs, resolved once per adapter (compiled fast path)."""
from __future__ import annotations

from gateway.eip712 import StructType
from gateway.signer import Signer
from gateway.venues.citrex import schemas


class CitrexSigner:
    __slots__ = ("signer", "account", "sub_account_id", "order", "cancel", "cancel_all", "login")

    def __init__(self, signer: Signer, *, sub_account_id: int, chain_id: int, verifying_contract: str,
                 domain_name: str, domain_version: str):
        domain = {
            "name": domain_name,
            "version": domain_version,
            "chainId": chain_id,
            "verifyingContract": verifying_contract,
        }
        types = schemas.eip712_types()
        self.signer = signer
        self.account = signer.address
        self.sub_account_id = sub_account_id
        self.order = StructType(types, "Order", domain)
        self.cancel = StructType(types, "CancelOrder", domain)
        self.cancel_all = StructType(types, "CancelOrders", domain)
        self.login = StructType(types, "LoginMessage", domain)

    def sign_order(self, product_id: int, is_buy: bool, order_type: int, tif: int, expiration_ms: int,
                   price_e18: int, quantity_e18: int, nonce: int) -> str:
        digest = self.order.digest((self.account, self.sub_account_id, product_id, is_buy, order_type, tif,
                                    expiration_ms, price_e18, quantity_e18, nonce))
        return "0x" + self.signer.sign_digest(digest).hex()

    def sign_cancel(self, product_id: int, order_id: str) -> str:
        digest = self.cancel.digest((self.account, self.sub_account_id, product_id, order_id))
        return "0x" + self.signer.sign_digest(digest).hex()

    def sign_cancel_all(self, product_id: int) -> str:
        digest = self.cancel_all.digest((self.account, self.sub_account_id, product_id))
        return "0x" + self.signer.sign_digest(digest).hex()

    def sign_login(self, message: str, timestamp_ms: int) -> str:
        digest = self.login.digest((self.account, message, timestamp_ms))
        return "0x" + self.signer.sign_digest(digest).hex()
