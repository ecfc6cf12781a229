"""EIP-712 types the tests and benchmarks share: the venues' own structs and a nested one."""

DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]

# seed 004 (Citrex): Order signed for POST /v1/order
CITREX_TYPES = {
    "EIP712Domain": DOMAIN_TYPE,
    "Order": [
        {"name": "account", "type": "address"},
        {"name": "subAccountId", "type": "uint8"},
        {"name": "productId", "type": "uint32"},
        {"name": "isBuy", "type": "bool"},
        {"name": "orderType", "type": "uint8"},
        {"name": "timeInForce", "type": "uint8"},
        {"name": "expiration", "type": "uint64"},
        {"name": "price", "type": "uint128"},
        {"name": "quantity", "type": "uint128"},
        {"name": "nonce", "type": "uint64"},
    ],
}
CITREX_DOMAIN = {
    "name": "ciao",
    "version": "0.0.0",
    "chainId": 1329,
    "verifyingContract": "0x993543DC8BdFCba9fc7355d822108eF49dB6b9F9",
}

# venues.md (BSX): Order signed by the signer key with sender = the wallet
BSX_TYPES = {
    "EIP712Domain": DOMAIN_TYPE,
    "Order": [
        {"name": "sender", "type": "address"},
        {"name": "size", "type": "uint128"},
        {"name": "price", "type": "uint128"},
        {"name": "nonce", "type": "uint64"},
        {"name": "productIndex", "type": "uint8"},
        {"name": "orderSide", "type": "uint8"},
    ],
}
BSX_TESTNET_DOMAIN = {
    "name": "BSX Testnet",
    "version": "1",
    "chainId": 8453,
    "verifyingContract": "0x" + "00" * 19 + "02",
}

# nested structs, arrays, every atomic kind: the general encoder's workout
NESTED_TYPES = {
    "EIP712Domain": DOMAIN_TYPE,
    "Person": [
        {"name": "name", "type": "string"},
        {"name": "wallets", "type": "address[]"},
    ],
    "Mail": [
        {"name": "from", "type": "Person"},
        {"name": "to", "type": "Person[]"},
        {"name": "contents", "type": "string"},
        {"name": "attachment", "type": "bytes"},
        {"name": "tag", "type": "bytes8"},
        {"name": "balance", "type": "int64"},
        {"name": "flags", "type": "bool[2]"},
        {"name": "group", "type": "Group"},
    ],
    "Group": [
        {"name": "name", "type": "string"},
        {"name": "id", "type": "uint256"},
        {"name": "members", "type": "Person[]"},
    ],
}


def citrex_message(account: str, nonce: int = 1718718131305466) -> dict:
    return {
        "account": account,
        "subAccountId": 0,
        "productId": 1002,
        "isBuy": True,
        "orderType": 0,
        "timeInForce": 0,
        "expiration": 1718804531305,
        "price": 3384300000000000000000,
        "quantity": 10000000000000000,
        "nonce": nonce,
    }
