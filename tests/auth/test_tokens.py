"""Authentication: the bearer token the service accepts, and every way one is refused with 401.

Each refused token varies one thing from a valid baseline that is itself accepted, and is sent
with the same write (a new patient), so each refusal also shows that nothing was written.
"""

import asyncio
import base64
import hmac
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from jose import jwt

from app.auth import tokens
from app.auth.principal import Principal
from app.auth.tokens import TokenVerifier
from app.core.clock import Clock
from app.core.config import Environment, Settings
from app.core.errors import Unauthenticated
from app.integrations.fhir.outcome import FHIR_PATH_PREFIX
from app.main import create_app
from tests.conftest import DatabaseProbe, bearer
from tests.factories import assert_refused, create_registrant, patient_body

UNAUTHENTICATED = "urn:csledger:problem:unauthenticated"
ANOTHER_SECRET = "another-secret-long-enough-for-hs256-signing"
SUBJECT = "nurse-1"
Claims = dict[str, Any]
TokenMaker = Callable[[Claims, Settings], str]


@pytest.fixture
async def registrant(client, admin_token) -> str:
    return str((await create_registrant(client, admin_token))["id"])


def baseline_claims(settings: Settings, registrant_id: str) -> Claims:
    """A valid clinician token for one registrant, issued now for ten minutes."""
    now = int(time.time())
    return {
        "sub": SUBJECT,
        "name": "Nora Nurse",
        "roles": ["clinician"],
        "registrants": [registrant_id],
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + 600,
    }


def signed(claims: Claims, settings: Settings) -> str:
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def with_claims(**changes: Any) -> TokenMaker:
    return lambda claims, settings: signed(claims | changes, settings)


def without(name: str) -> TokenMaker:
    return lambda claims, settings: signed({k: v for k, v in claims.items() if k != name}, settings)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: Claims, claims: Claims, signature: Callable[[bytes], bytes]) -> str:
    """A JWT assembled by hand, for the forgeries python-jose refuses to sign."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(signature(signing_input.encode()))}"


def unsigned(claims: Claims, settings: Settings) -> str:
    return hand_made({"alg": "none", "typ": "JWT"}, claims, lambda _: b"")


def padded(claims: Claims, settings: Settings, size: int) -> str:
    """The baseline with a ``pad`` claim: as long as it can be without passing ``size`` bytes."""
    pad = size * 3 // 4
    while len(token := signed(claims | {"pad": "x" * pad}, settings)) > size:
        pad -= 1
    return token


ACCEPTED_TOKENS: dict[str, TokenMaker] = {
    "the baseline": signed,
    "expired within the leeway": lambda c, s: signed(
        c | {"exp": c["iat"] - s.jwt_leeway_seconds // 2}, s
    ),
    "not yet valid within the leeway": lambda c, s: signed(
        c | {"nbf": c["iat"] + s.jwt_leeway_seconds // 2}, s
    ),
}

REFUSED_TOKENS: dict[str, TokenMaker] = {
    "signed with another secret": lambda c, s: jwt.encode(c, ANOTHER_SECRET, algorithm="HS256"),
    "alg none": unsigned,
    "no exp": without("exp"),
    "expired beyond the leeway": lambda c, s: signed(
        c | {"exp": c["iat"] - s.jwt_leeway_seconds - 60}, s
    ),
    "not yet valid beyond the leeway": lambda c, s: signed(
        c | {"nbf": c["iat"] + s.jwt_leeway_seconds + 60}, s
    ),
    "no aud": without("aud"),
    "wrong aud": with_claims(aud="another-service"),
    "no iss": without("iss"),
    "wrong iss": with_claims(iss="https://idp.example.com"),
    "no sub": without("sub"),
    "no name": without("name"),
    "no roles": without("roles"),
    "empty roles": with_claims(roles=[]),
    "unknown role": with_claims(roles=["superuser"]),
    "no registrants": without("registrants"),
    "empty registrants": with_claims(registrants=[]),
    "registrant not a UUID": with_claims(registrants=["hill-country"]),
    '"*" registrant on a non-admin token': with_claims(registrants=["*"]),
    '"*" registrant on an admin token with another role': with_claims(
        roles=["admin", "clinician"], registrants=["*"]
    ),
}

REFUSED_AUTHORIZATION: dict[str, Callable[[str], dict[str, str]]] = {
    "no Authorization header": lambda token: {},
    "Basic scheme": lambda token: {"Authorization": "Basic " + b64url(b"nurse:secret")},
    "a valid token under another scheme": lambda token: {"Authorization": f"Token {token}"},
    "Bearer without a token": lambda token: {"Authorization": "Bearer"},
    "garbage": lambda token: {"Authorization": "Bearer not-a-jwt-at-all"},
    "two segments": lambda token: {"Authorization": "Bearer " + token.rsplit(".", 1)[0]},
}


async def refused_patient_write(
    client: httpx.AsyncClient, probe: DatabaseProbe, registrant: str, headers: dict[str, str]
) -> None:
    await assert_refused(
        client,
        probe,
        "POST",
        "/v1/patients",
        headers=headers,
        json=patient_body(registrant),
        status=401,
        problem=UNAUTHENTICATED,
    )


@pytest.mark.parametrize("make_token", ACCEPTED_TOKENS.values(), ids=list(ACCEPTED_TOKENS))
async def test_an_accepted_token_writes_as_its_subject(
    client, probe, app_settings, registrant, make_token
):
    token = make_token(baseline_claims(app_settings, registrant), app_settings)
    response = await client.post(
        "/v1/patients", json=patient_body(registrant), headers=bearer(token)
    )
    assert response.status_code == 201, response.text
    (audit,) = await probe.audit_rows(response.headers["x-request-id"])
    assert (audit.kind, audit.subject) == ("write", SUBJECT)


@pytest.mark.parametrize("make_token", REFUSED_TOKENS.values(), ids=list(REFUSED_TOKENS))
async def test_a_token_varied_from_the_baseline_is_refused(
    client, probe, app_settings, registrant, make_token
):
    token = make_token(baseline_claims(app_settings, registrant), app_settings)
    await refused_patient_write(client, probe, registrant, bearer(token))


@pytest.mark.parametrize(
    "authorization", REFUSED_AUTHORIZATION.values(), ids=list(REFUSED_AUTHORIZATION)
)
async def test_a_request_without_a_bearer_jwt_is_refused(
    client, probe, app_settings, registrant, authorization
):
    valid = signed(baseline_claims(app_settings, registrant), app_settings)
    await refused_patient_write(client, probe, registrant, authorization(valid))


async def test_a_token_past_the_size_limit_is_refused(client, probe, app_settings, registrant):
    limit = app_settings.jwt_max_bytes
    claims = baseline_claims(app_settings, registrant)
    at_limit, past_limit = (
        padded(claims, app_settings, limit),
        padded(claims, app_settings, limit + 4),
    )
    assert limit - 4 < len(at_limit) <= limit < len(past_limit)
    accepted = await client.post(
        "/v1/patients", json=patient_body(registrant), headers=bearer(at_limit)
    )
    assert accepted.status_code == 201, accepted.text
    await refused_patient_write(client, probe, registrant, bearer(past_limit))


# A service pinned to RS256


def rsa_key_pair() -> tuple[bytes, bytes]:
    """A fresh (private PEM, public PEM) pair."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@asynccontextmanager
async def serving(settings: Settings, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a fresh app built from ``settings``."""
    app = create_app(settings, clock=clock)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://csledger.test") as c:
            yield c
    finally:
        await app.state.database.dispose()


async def test_rs256_service_refuses_hs256_signed_with_its_public_key(
    tmp_path, database_url, clock, probe
):
    private_pem, public_pem = rsa_key_pair()
    public_file = tmp_path / "jwt-public.pem"
    public_file.write_bytes(public_pem)
    settings = Settings(
        environment=Environment.test,
        database_url=database_url,
        jwt_algorithm="RS256",
        jwt_public_key_file=public_file,
    )

    def rs256(claims: Claims) -> str:
        return jwt.encode(claims, private_pem.decode(), algorithm="RS256")

    async with serving(settings, clock) as client:
        admin = baseline_claims(settings, "*") | {"sub": "platform-admin", "roles": ["admin"]}
        registrant = str((await create_registrant(client, rs256(admin)))["id"])
        claims = baseline_claims(settings, registrant)
        accepted = await client.post(
            "/v1/patients", json=patient_body(registrant), headers=bearer(rs256(claims))
        )
        assert accepted.status_code == 201, accepted.text
        forged = hand_made(
            {"alg": "HS256", "typ": "JWT"},
            claims,
            lambda signing_input: hmac.digest(public_pem, signing_input, "sha256"),
        )
        await refused_patient_write(client, probe, registrant, bearer(forged))


# Which routes need a token

PUBLIC_PATHS = ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/v1/ledger/jwks.json"]
NOWHERE = uuid.UUID("00000000-0000-4000-8000-000000000000")


def v1_routes(app: FastAPI, prefix: str = "/v1/") -> list[tuple[str, str]]:
    """Every (method, path) under ``prefix``, each path parameter filled with an id that names
    nothing. FHIR's routes answer with OperationOutcome instead of problem details: their
    own tests (tests/integrations/fhir) check them."""
    return sorted(
        (method, re.sub(r"\{[^}]+\}", str(NOWHERE), route.path))
        for route in iter_route_contexts(app.routes)
        if route.path and route.path.startswith(prefix) and route.path not in PUBLIC_PATHS
        and (prefix != "/v1/" or not route.path.startswith(FHIR_PATH_PREFIX))
        for method in route.methods or ()
    )  # fmt: skip


@pytest.mark.parametrize("path", PUBLIC_PATHS)
async def test_a_public_endpoint_needs_no_token(client, path):
    response = await client.get(path)
    assert response.status_code == 200, response.text


async def test_every_v1_route_needs_a_token(app, client, probe):
    routes = v1_routes(app)
    assert {("GET", "/v1/registrants"), ("POST", "/v1/patients")} <= set(routes)
    for method, path in routes:
        await assert_refused(client, probe, method, path, status=401, problem=UNAUTHENTICATED)


# Remembered tokens: accepted from memory only while they would be accepted anew


async def test_a_remembered_token_is_refused_once_past_its_exp_and_the_leeway(app_settings):
    settings = app_settings.model_copy(update={"jwt_leeway_seconds": 0})
    claims = baseline_claims(settings, str(uuid.uuid4())) | {"exp": int(time.time()) + 1}
    verifier = TokenVerifier(settings)
    token = signed(claims, settings)
    assert verifier.verify(token).subject == SUBJECT
    assert verifier.verify(token).subject == SUBJECT  # from memory
    await asyncio.sleep(claims["exp"] + 1 - time.time() + 0.05)  # python-jose counts whole seconds
    with pytest.raises(Unauthenticated):
        verifier.verify(token)
    with pytest.raises(Unauthenticated):
        verifier.verify(token)


def counting_decodes(verifier: TokenVerifier, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens ``verifier`` checks whole from now on, in order (those not from memory)."""
    decoded: list[str] = []
    decode = verifier._decode

    def counted(token: str) -> tuple[Principal, float]:
        decoded.append(token)
        return decode(token)

    monkeypatch.setattr(verifier, "_decode", counted)
    return decoded


def test_a_refused_token_is_not_remembered(app_settings, monkeypatch):
    """A token refused for now (not yet valid) is checked whole again when it is sent again."""
    claims = baseline_claims(app_settings, str(uuid.uuid4()))
    not_before = claims["iat"] + app_settings.jwt_leeway_seconds + 60
    token = signed(claims | {"nbf": not_before}, app_settings)
    verifier = TokenVerifier(app_settings)
    decoded = counting_decodes(verifier, monkeypatch)
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            verifier.verify(token)
    assert decoded == [token, token]


def test_remembered_tokens_are_bounded_and_the_oldest_forgotten(app_settings, monkeypatch):
    monkeypatch.setattr(tokens, "_REMEMBERED", 3)
    verifier = TokenVerifier(app_settings)
    decoded = counting_decodes(verifier, monkeypatch)
    made = [signed(baseline_claims(app_settings, str(uuid.uuid4())), app_settings)
            for _ in range(4)]  # fmt: skip
    for token in [*made, made[3], made[1], made[0]]:
        verifier.verify(token)
    assert decoded == [*made, made[0]]  # the fourth forgot the first; the others were at hand
