"""OpenID Connect sign-in: the authorization code flow with PKCE (RFC 7636, S256).

Authlib writes the protocol's messages (the authorization request, the token request, the
PKCE challenge); httpx carries them; the ID token is checked in :mod:`app.auth.tokens` (the
one module that verifies signatures). The provider's metadata and keys are read at each
sign-in: sign-ins are rare, and a provider that rotated its keys is never met with old ones.
"""

from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from app.auth.tokens import IdTokenInvalid, verify_id_token
from app.core.config import Settings

_TIMEOUT = httpx.Timeout(10.0)


class SignInFailed(Exception):
    """The provider could not be reached, refused the code, or answered what cannot be
    trusted: the message says which, for the sign-in page."""


@dataclass(frozen=True, slots=True)
class Request:
    """An authorization request in flight: what its callback needs to finish it."""

    state: str
    nonce: str
    code_verifier: str

    @classmethod
    def new(cls) -> "Request":
        return cls(state=generate_token(43), nonce=generate_token(43),
                   code_verifier=generate_token(64))  # fmt: skip


class OidcClient:
    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None):
        if settings.oidc_issuer is None or settings.oidc_client_id is None:
            raise ValueError("no identity provider is configured")
        self._issuer = settings.oidc_issuer.rstrip("/")
        self._client_id = settings.oidc_client_id
        self._client_secret = settings.oidc_client_secret
        self._scopes = settings.oidc_scopes
        self._leeway = settings.jwt_leeway_seconds
        self._transport = transport

    async def authorization_url(self, request: Request, redirect_uri: str) -> str:
        metadata = await self._metadata()
        return str(prepare_grant_uri(
            metadata["authorization_endpoint"], self._client_id, "code",
            redirect_uri=redirect_uri, scope=self._scopes, state=request.state,
            nonce=request.nonce, code_challenge=_s256(request.code_verifier),
            code_challenge_method="S256",
        ))  # fmt: skip

    async def claims(self, request: Request, code: str, redirect_uri: str) -> dict[str, Any]:
        """The verified ID token's claims for ``code``, answering ``request``."""
        metadata = await self._metadata()
        tokens = await self._exchange(metadata["token_endpoint"], code, request, redirect_uri)
        jwks = await self._get_json(metadata["jwks_uri"])
        try:
            return verify_id_token(
                str(tokens.get("id_token", "")), jwks, issuer=self._issuer,
                audience=self._client_id, nonce=request.nonce,
                access_token=tokens.get("access_token"), leeway_seconds=self._leeway,
            )  # fmt: skip
        except IdTokenInvalid as exc:
            raise SignInFailed(str(exc)) from exc

    async def _exchange(
        self, endpoint: str, code: str, request: Request, redirect_uri: str
    ) -> dict[str, Any]:
        body = prepare_token_request("authorization_code", code=code, redirect_uri=redirect_uri,
                                     code_verifier=request.code_verifier,
                                     client_id=self._client_id)  # fmt: skip
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        async with self._http() as http:
            try:
                answer = await http.post(endpoint, content=body, headers=headers,
                                         auth=self._client_authentication())  # fmt: skip
            except httpx.HTTPError as exc:
                raise SignInFailed(f"the identity provider did not answer: {exc}") from exc
        if answer.status_code != 200:
            raise SignInFailed(f"the identity provider refused the sign-in ({answer.status_code})")
        return _json_object(answer)

    def _client_authentication(self) -> httpx.Auth:
        """HTTP Basic with the secret (client_secret_basic); nothing for a public client, which
        names itself in the request's body and proves itself with the PKCE verifier."""
        if self._client_secret is None:
            return _NO_AUTHENTICATION
        return httpx.BasicAuth(self._client_id, self._client_secret)

    async def _metadata(self) -> dict[str, Any]:
        found = await self._get_json(f"{self._issuer}/.well-known/openid-configuration")
        if str(found.get("issuer", "")).rstrip("/") != self._issuer:
            raise SignInFailed("the identity provider's metadata names another issuer")
        for needed in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(found.get(needed), str):
                raise SignInFailed(f"the identity provider's metadata has no {needed}")
        return found

    async def _get_json(self, url: str) -> dict[str, Any]:
        async with self._http() as http:
            try:
                answer = await http.get(url)
            except httpx.HTTPError as exc:
                raise SignInFailed(f"the identity provider did not answer: {exc}") from exc
        if answer.status_code != 200:
            raise SignInFailed(f"the identity provider answered {answer.status_code} at {url}")
        return _json_object(answer)

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self._transport, timeout=_TIMEOUT)


def _s256(verifier: str) -> str:
    return str(create_s256_code_challenge(verifier))  # type: ignore[no-untyped-call]


_NO_AUTHENTICATION = httpx.Auth()
"""httpx's base Auth sends the request as it is."""


def _json_object(answer: httpx.Response) -> dict[str, Any]:
    try:
        found = answer.json()
    except ValueError as exc:
        raise SignInFailed("the identity provider answered something other than JSON") from exc
    if not isinstance(found, dict):
        raise SignInFailed("the identity provider answered something other than an object")
    return found


def console_claims(id_token: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """An ID token's claims as an API token carries them (``sub``, ``name``, ``roles``,
    ``registrants``): the same principal, whichever way its holder came in."""
    name = next((str(id_token[k]) for k in ("name", "preferred_username", "email")
                 if id_token.get(k)), str(id_token.get("sub")))  # fmt: skip
    return {
        "sub": id_token.get("sub"),
        "name": name,
        "roles": id_token.get(settings.oidc_roles_claim),
        "registrants": id_token.get(settings.oidc_registrants_claim),
    }
