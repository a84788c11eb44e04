"""Signing in through an OpenID Connect provider: the authorization code flow with PKCE.

The provider is outside the project, so it is played by an httpx MockTransport holding its
metadata, its keys and a token endpoint that checks the code, the redirect and the PKCE
verifier as a provider does."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt

from app.auth.permissions import Role
from app.console.web import COOKIE
from app.main import create_app
from tests.factories import create_registrant

pytestmark = pytest.mark.usefixtures("dialect")

ISSUER = "https://idp.example.org/realms/clinic"
CLIENT_ID = "csledger-console"
CLIENT_SECRET = "a-secret-the-provider-issued"
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_PEM = _KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()).decode()  # fmt: skip
_PUBLIC_PEM = (
    _KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


def _s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


@dataclass
class Provider:
    """An identity provider: it issues one code per authorization it is shown."""

    claims: dict[str, Any]
    tamper: dict[str, Any] = field(default_factory=dict)
    """Claims overridden in the ID token it signs (a wrong audience, an old nonce...)."""
    algorithm: str = "RS256"
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    token_requests: list[dict[str, Any]] = field(default_factory=list)

    def authorize(self, location: str) -> str:
        """What the browser is sent back with, once the person has signed in there."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        code = uuid.uuid4().hex
        self.codes[code] = query
        return f"/console/sign-in/callback?code={code}&state={query['state']}"

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(200, json={
                "issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/auth",
                "token_endpoint": f"{ISSUER}/token", "jwks_uri": f"{ISSUER}/certs",
            })  # fmt: skip
        if request.url.path.endswith("/certs"):
            key = jwk.construct(_PUBLIC_PEM, "RS256").to_dict()
            return httpx.Response(200, json={"keys": [key | {"kid": "k1", "use": "sig"}]})
        if request.url.path.endswith("/token"):
            return self._token(request)
        return httpx.Response(404)

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.token_requests.append(form | {"authorization": request.headers.get("authorization")})
        asked = self.codes.pop(form.get("code", ""), None)
        basic = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if (asked is None or request.headers.get("authorization") != basic
                or form.get("redirect_uri") != asked["redirect_uri"]
                or _s256(form.get("code_verifier", "")) != asked["code_challenge"]):  # fmt: skip
            return httpx.Response(400, json={"error": "invalid_grant"})
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": CLIENT_ID, "iat": now, "exp": now + 300,
                  "nonce": asked["nonce"], **self.claims, **self.tamper}  # fmt: skip
        if self.algorithm == "RS256":
            id_token = jwt.encode(claims, _PEM, algorithm="RS256", headers={"kid": "k1"})
        else:
            id_token = _hmac_signed_with_public_key(claims)
        return httpx.Response(200, json={"access_token": "at", "token_type": "Bearer",
                                         "id_token": id_token})  # fmt: skip


def _hmac_signed_with_public_key(claims: dict[str, Any]) -> str:
    """The classic forgery: HS256 keyed with the provider's public key, which anyone has."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    signed = f"{part({'alg': 'HS256', 'typ': 'JWT', 'kid': 'k1'})}.{part(claims)}"
    mac = hmac.new(_PUBLIC_PEM.encode(), signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


@pytest.fixture
async def registrant_id(client, admin_token) -> str:
    return str((await create_registrant(client, admin_token))["id"])


@pytest.fixture
def provider(registrant_id) -> Provider:
    officer = [str(Role.compliance_officer)]
    return Provider({"sub": "olive-at-idp", "name": "Olive Officer", "roles": officer,
                     "registrants": [registrant_id]})  # fmt: skip


@pytest.fixture
async def browser(app_settings, clock, provider):
    settings = app_settings.model_copy(update={
        "oidc_issuer": ISSUER, "oidc_client_id": CLIENT_ID, "oidc_client_secret": CLIENT_SECRET,
    })  # fmt: skip
    application = create_app(settings, clock=clock)
    application.state.oidc_transport = httpx.MockTransport(provider.handle)
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://csledger.test") as found:
        yield found
    await application.state.database.dispose()


async def _begin(browser: httpx.AsyncClient, next_page: str = "/console/") -> str:
    started = await browser.get("/console/sign-in/start", params={"next": next_page})
    assert started.status_code == 303, started.text
    return started.headers["location"]


async def test_the_code_flow_with_pkce_signs_in(browser, provider, probe) -> None:
    page = await browser.get("/console/sign-in")
    assert "Sign in with your organization" in page.text
    location = await _begin(browser, "/console/?registrant_id=x")
    sent = parse_qs(urlsplit(location).query)
    assert location.startswith(f"{ISSUER}/auth?")
    assert sent["response_type"] == ["code"]
    assert sent["client_id"] == [CLIENT_ID]
    assert sent["code_challenge_method"] == ["S256"]
    assert sent["redirect_uri"] == ["http://csledger.test/console/sign-in/callback"]
    assert sent["scope"] == ["openid profile email"]
    assert len(sent["nonce"][0]) >= 32
    assert len(sent["state"][0]) >= 32

    finished = await browser.get(provider.authorize(location))
    assert finished.status_code == 303, finished.text
    assert finished.headers["location"] == "/console/?registrant_id=x"
    assert COOKIE in browser.cookies
    [asked] = provider.token_requests
    assert asked["grant_type"] == "authorization_code"
    dashboard = await browser.get("/console/")
    assert dashboard.status_code == 200
    assert "Olive Officer" in dashboard.text
    rows = await probe.audit_rows(finished.headers["x-request-id"])
    assert [(r.kind, r.subject, r.parameters) for r in rows] == [("sign_in", "olive-at-idp", {})]


async def test_a_state_is_answered_once(browser, provider) -> None:
    callback = provider.authorize(await _begin(browser))
    assert (await browser.get(callback)).status_code == 303
    browser.cookies.delete(COOKIE)
    replayed = await browser.get(callback)
    assert replayed.status_code == 400
    assert COOKIE not in browser.cookies


async def test_a_sign_in_begun_in_another_browser_is_refused(browser, provider) -> None:
    """Login CSRF: a callback the victim's browser never asked for."""
    callback = provider.authorize(await _begin(browser))
    browser.cookies.clear()
    answer = await browser.get(callback)
    assert answer.status_code == 400
    assert "another browser" in answer.text


@pytest.mark.parametrize(
    ("tamper", "algorithm", "why"),
    [
        ({"aud": "another-client"}, "RS256", "audience"),
        ({"iss": "https://evil.example"}, "RS256", "issuer"),
        ({"exp": int(time.time()) - 3600}, "RS256", "expired"),
        ({"nonce": "an-old-one"}, "RS256", "nonce"),
        ({}, "HS256", "signed with HS256"),  # the public key used as an HMAC secret
    ],
)
async def test_an_id_token_that_cannot_be_trusted_signs_no_one_in(
    browser, provider, tamper, algorithm, why
) -> None:
    provider.tamper, provider.algorithm = tamper, algorithm
    answer = await browser.get(provider.authorize(await _begin(browser)))
    assert answer.status_code == 401
    assert COOKIE not in browser.cookies
    assert why.lower() in answer.text.lower()


async def test_an_account_without_csledger_roles_is_told_why(browser, provider) -> None:
    provider.claims = {"sub": "someone", "name": "Some One"}
    answer = await browser.get(provider.authorize(await _begin(browser)))
    assert answer.status_code == 403
    assert "may not use csledger" in answer.text


async def test_the_provider_refusing_is_shown(browser) -> None:
    await _begin(browser)
    answer = await browser.get("/console/sign-in/callback", params={"error": "access_denied"})
    assert answer.status_code == 401
    assert "access_denied" in answer.text


async def test_without_a_provider_there_is_no_start(client) -> None:
    assert (await client.get("/console/sign-in/start")).status_code == 404
