"""The key that signs checkpoints: kept outside the database, rotated by configuration.

Rotation: make a new key, point CSLEDGER_CHECKPOINT_KEY_FILE at it, and add the old public key
to the JWKS file named by CSLEDGER_CHECKPOINT_RETIRED_JWKS_FILE, so checkpoints it signed still
verify. In development a key is made under ``development_key_dir`` the first time it is needed.
"""

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.auth.tokens import public_jwk
from app.core.config import Settings

DEVELOPMENT_KEY_NAME = "checkpoint-es256.pem"


@dataclass(frozen=True, slots=True)
class Signer:
    private_pem: str
    kid: str
    jwk: dict[str, str]


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of an EC public key."""
    members = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode())
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")


def new_private_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _key_file(settings: Settings) -> Path:
    if settings.checkpoint_key_file is not None:
        return settings.checkpoint_key_file
    if settings.is_production:
        raise RuntimeError("CSLEDGER_CHECKPOINT_KEY_FILE is required in production")
    path = settings.development_key_dir / DEVELOPMENT_KEY_NAME
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(new_private_pem())
    return path


@cache
def _signer_from(pem: str, configured_kid: str | None) -> Signer:
    provisional = public_jwk(pem, kid="")
    kid = configured_kid or thumbprint(provisional)
    return Signer(private_pem=pem, kid=kid, jwk=provisional | {"kid": kid})


def signer(settings: Settings) -> Signer:
    return _signer_from(_key_file(settings).read_text(), settings.checkpoint_key_id)


def published_keys(settings: Settings) -> list[dict[str, str]]:
    """The current public key first, then the retired ones."""
    keys = [signer(settings).jwk]
    if settings.checkpoint_retired_jwks_file is not None:
        retired = json.loads(settings.checkpoint_retired_jwks_file.read_text())["keys"]
        keys += [key for key in retired if key.get("kid") != keys[0]["kid"]]
    return keys


def published_by_kid(settings: Settings) -> dict[str, dict[str, str]]:
    """The published keys by their ``kid``: the keys a verifier of this service trusts."""
    return {key["kid"]: key for key in published_keys(settings)}
