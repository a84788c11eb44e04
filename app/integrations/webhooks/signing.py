"""Standard Webhooks signing (https://www.standardwebhooks.com): secrets and signatures.

A secret is ``whsec_`` + base64 of random bytes; the key is those bytes. A signature is
``v1,`` + base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")); while a rotated
secret overlaps, both signatures are sent, separated by a space, and a receiver accepts any.
"""

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

PREFIX = "whsec_"
KEY_BYTES = 32
"""The standard asks for 24 to 64 bytes."""


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(secret: str, *, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(
    secrets_in_use: Sequence[str], *, message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three headers of a delivery, signed with every secret in use."""
    signatures = " ".join(
        signature(secret, message_id=message_id, timestamp=timestamp, body=body)
        for secret in secrets_in_use
    )
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
    }
