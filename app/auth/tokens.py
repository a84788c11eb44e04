"""Bearer tokens: the only module that imports python-jose.

What a token must be, all checked before a principal exists:
- at most ``jwt_max_bytes`` long (checked before any decoding);
- signed with the one algorithm the configuration pins (the header's ``alg`` is never trusted,
  so ``none`` and HS256-signed-with-the-RSA-public-key are refused);
- carrying ``sub``, ``name``, ``roles``, ``registrants``, ``iss``, ``aud`` and ``exp``; python-jose
  accepts a token without ``exp`` or ``aud`` unless told to require them, so we tell it.

A client sends the same token with every request until it expires, so a token accepted once is
remembered (the exact string, up to ``_REMEMBERED`` of them) until its ``exp`` and the leeway
pass: a signature check and a claims validation per request become a dictionary lookup.
"""

import json
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from jose import jwk, jws, jwt
from jose.exceptions import JOSEError
from pydantic import BaseModel, Field, ValidationError

from app.auth.permissions import Role
from app.auth.principal import Principal
from app.core.config import Settings
from app.core.errors import Unauthenticated

ALL_REGISTRANTS = "*"
_REQUIRED = ("sub", "name", "roles", "registrants", "iss", "aud", "exp")
_REMEMBERED = 1024
"""Accepted tokens kept, the oldest forgotten first: at most ``jwt_max_bytes`` each."""


class Claims(BaseModel):
    sub: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    roles: list[Role] = Field(min_length=1)
    registrants: list[uuid.UUID] | list[str] = Field(min_length=1)


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self._accepted: dict[str, tuple[Principal, float]] = {}
        """Token -> (its principal, the instant it stops being accepted)."""
        self._algorithm = settings.jwt_algorithm
        self._key = _verification_key(settings)
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._max_bytes = settings.jwt_max_bytes
        self._leeway = settings.jwt_leeway_seconds

    def verify(self, token: str) -> Principal:
        remembered = self._accepted.get(token)
        if remembered is not None:
            principal, until = remembered
            if time.time() <= until:  # as python-jose checks exp, and with its clock
                return principal
            del self._accepted[token]
        principal, expires_at = self._decode(token)
        self._remember(token, principal, expires_at + self._leeway)
        return principal

    def _remember(self, token: str, principal: Principal, until: float) -> None:
        if len(self._accepted) >= _REMEMBERED:
            del self._accepted[next(iter(self._accepted))]
        self._accepted[token] = principal, until

    def _decode(self, token: str) -> tuple[Principal, float]:
        """Check the token whole: size, signature, then claims; its principal and ``exp``."""
        if len(token.encode()) > self._max_bytes:
            raise Unauthenticated("token too large")
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],
                audience=self._audience,
                issuer=self._issuer,
                options={f"require_{name}": True for name in _REQUIRED} | {"leeway": self._leeway},
            )
        except (JOSEError, ValueError, TypeError) as exc:
            raise Unauthenticated(f"invalid token: {exc}") from exc
        return principal_from_claims(claims), float(claims["exp"])


def _verification_key(settings: Settings) -> str:
    if settings.jwt_algorithm.startswith("HS"):
        return settings.jwt_secret
    if settings.jwt_public_key_file is None:
        raise ValueError(f"{settings.jwt_algorithm} needs CSLEDGER_JWT_PUBLIC_KEY_FILE")
    return settings.jwt_public_key_file.read_text()


def principal_from_claims(raw: dict[str, Any]) -> Principal:
    """The principal an API token's claims, or a console sign-in's, name."""
    try:
        claims = Claims.model_validate(raw)
    except ValidationError as exc:
        raise Unauthenticated("token claims are malformed") from exc
    roles = frozenset(claims.roles)
    if claims.registrants == [ALL_REGISTRANTS]:
        if roles != {Role.admin}:
            raise Unauthenticated('only an admin-only token may name the "*" registrant')
        return Principal(claims.sub, claims.name, roles, frozenset(), all_registrants=True)
    try:
        ids = frozenset(uuid.UUID(str(r)) for r in claims.registrants)
    except ValueError as exc:
        raise Unauthenticated("registrants must be UUIDs") from exc
    return Principal(claims.sub, claims.name, roles, ids)


class IdTokenInvalid(ValueError):
    pass


def verify_id_token(
    id_token: str,
    jwks: dict[str, Any],
    *,
    issuer: str,
    audience: str,
    nonce: str,
    access_token: str | None,
    leeway_seconds: int,
) -> dict[str, Any]:
    """The claims of an OpenID Connect ID token (section 3.1.3.7): signed by a key of the
    provider's ``jwks`` with the asymmetric algorithm that key names (never ``none`` or an HMAC
    keyed with a public key), for this ``issuer`` and ``audience``, unexpired, and carrying the
    ``nonce`` this sign-in sent (and, when it has an ``at_hash``, the hash of ``access_token``)."""
    try:
        header = jws.get_unverified_header(id_token)
        algorithm = str(header.get("alg"))
        if algorithm not in _ID_TOKEN_ALGORITHMS:
            raise IdTokenInvalid(f"ID token signed with {algorithm}")
        claims: dict[str, Any] = jwt.decode(
            id_token,
            jwks,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            access_token=access_token,
            options={"require_exp": True, "require_iat": True, "require_sub": True,
                     "require_aud": True, "require_iss": True, "leeway": leeway_seconds},
        )  # fmt: skip
    except (JOSEError, ValueError, TypeError) as exc:
        if isinstance(exc, IdTokenInvalid):
            raise
        raise IdTokenInvalid(f"invalid ID token: {exc}") from exc
    if claims.get("nonce") != nonce:
        raise IdTokenInvalid("the ID token answers another sign-in (nonce)")
    return claims


_ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")


def mint_token(
    settings: Settings,
    *,
    subject: str,
    name: str,
    roles: list[Role],
    registrants: list[str],
    now: datetime,
    lifetime: timedelta = timedelta(hours=12),
    private_key_file: Path | None = None,
) -> str:
    """A token for development and tests; production tokens come from the identity provider."""
    if settings.is_production:
        raise RuntimeError("tokens are not minted in production")
    if settings.jwt_algorithm.startswith("HS"):
        key = settings.jwt_secret
    elif private_key_file is not None:
        key = private_key_file.read_text()
    else:
        raise ValueError(f"{settings.jwt_algorithm} needs a private key file to sign with")
    claims = {
        "sub": subject,
        "name": name,
        "roles": [str(role) for role in roles],
        "registrants": registrants,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
    }
    return str(jwt.encode(claims, key, algorithm=settings.jwt_algorithm))


# Signed statements (JWS, ES256): the ledger's checkpoints are signed here so that python-jose
# stays behind this one module.

SIGNING_ALGORITHM = "ES256"


def public_jwk(private_or_public_pem: str, *, kid: str) -> dict[str, str]:
    """The public JWK of an ES256 key, with its ``kid``."""
    key: Any = jwk.construct(private_or_public_pem, SIGNING_ALGORITHM)
    fields = (key if key.is_public() else key.public_key()).to_dict()
    return {name: str(fields[name]) for name in ("kty", "crv", "x", "y")} | {
        "alg": SIGNING_ALGORITHM,
        "use": "sig",
        "kid": kid,
    }


def sign_statement(payload: dict[str, Any], *, private_pem: str, kid: str) -> str:
    """A compact JWS of ``payload`` signed ES256, naming its key in the header."""
    return str(
        jws.sign(
            payload,
            private_pem,
            algorithm=SIGNING_ALGORITHM,
            headers={"kid": kid, "typ": "csledger-checkpoint+jws"},
        )
    )


class StatementInvalid(ValueError):
    pass


def verify_statement(token: str, keys: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The payload of a statement signed by one of ``keys`` (by kid); raises if it is not."""
    try:
        header = jws.get_unverified_header(token)
        key = keys.get(str(header.get("kid")))
        if key is None:
            raise StatementInvalid(f"unknown signing key {header.get('kid')!r}")
        payload = jws.verify(token, key, algorithms=[SIGNING_ALGORITHM])
    except JOSEError as exc:
        raise StatementInvalid(str(exc)) from exc
    return dict(json.loads(payload))
