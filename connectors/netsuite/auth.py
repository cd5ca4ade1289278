"""NetSuite's OAuth 2.0 client credentials (machine to machine) flow: a JWT client assertion signed with the private
key of a certificate mapped to the integration, exchanged at the token endpoint for a 60-minute access token.

The assertion (NetSuite's "request token structure"): header `typ: JWT`, `alg` PS256 or ES256 (from the key: RSA or
P-256), `kid` = the certificate id NetSuite gave the uploaded certificate; claims `iss` = the integration's client
id, `scope` = "restlets,rest_webservices", `aud` = the token endpoint, `iat` = now, `exp` = now + at most 60 minutes.
Tokens are cached and fetched again `TOKEN_MARGIN_SECONDS` before they expire; a 401 drops the one refused.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from connectors.errors import PermanentError, TransientError, UncertainOutcome
from connectors.kit import CachedToken, json_body, send
from connectors.netsuite.errors import SYSTEM, classify
from connectors.netsuite.wire import token_answer

TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCOPE = "restlets,rest_webservices"
ASSERTION_SECONDS = 300  # NetSuite takes up to 60 minutes; a short-lived assertion is less worth stealing
# Fetch a new token this long before the current one expires, so none dies between being read and being checked.
TOKEN_MARGIN_SECONDS = 60.0


@dataclass(frozen=True)
class M2MCredentials:
    """What NetSuite's OAuth 2.0 Client Credentials (M2M) Setup maps: integration, certificate, and the private key
    of that certificate (PEM; RSA signs PS256, an EC P-256 key ES256)."""

    client_id: str
    certificate_id: str
    private_key_pem: str | None = field(default=None, repr=False)

    def algorithm_and_key(self) -> tuple[str, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey]:
        if not self.private_key_pem:
            raise PermanentError(SYSTEM, "auth", "no private key for the NetSuite certificate is configured")
        try:
            key = load_pem_private_key(self.private_key_pem.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise PermanentError(SYSTEM, "auth", f"the NetSuite private key is not a PEM private key: {exc}") from exc
        if isinstance(key, rsa.RSAPrivateKey):
            return "PS256", key
        if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
            return "ES256", key
        raise PermanentError(SYSTEM, "auth", "the NetSuite private key must be RSA (PS256) or EC P-256 (ES256)")


def client_assertion(credentials: M2MCredentials, token_url: str, now: float, **overrides: Any) -> str:
    """The signed JWT NetSuite's token endpoint takes as `client_assertion` (`overrides`: claims, or `kid` / `typ`
    in the header, replaced, for tests of what the token endpoint refuses)."""
    algorithm, key = credentials.algorithm_and_key()
    issued = int(now)
    claims: dict[str, Any] = {
        "iss": credentials.client_id,
        "scope": SCOPE,
        "aud": token_url,
        "iat": issued,
        "exp": issued + ASSERTION_SECONDS,
        "jti": str(uuid.uuid4()),
    }
    headers = {"typ": overrides.pop("typ", "JWT"), "kid": overrides.pop("kid", credentials.certificate_id)}
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


class TokenSource(CachedToken):
    """One cached access token per connector, rotated before it expires; `clock` is monotonic seconds (tests move
    it), `wall_clock` the Unix time the assertion's iat/exp count from."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        credentials: M2MCredentials,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(clock, TOKEN_MARGIN_SECONDS)
        self._http = http
        self._url = f"{base_url.rstrip('/')}{TOKEN_PATH}"
        self._credentials = credentials
        self._wall_clock = wall_clock

    async def _fetch(self) -> tuple[str, float]:
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(self._credentials, self._url, self._wall_clock()),
        }
        request = self._http.build_request("POST", self._url, data=form, headers={"Accept": "application/json"})
        try:
            response = await send(self._http, SYSTEM, request, classify)
        except UncertainOutcome as exc:
            # Issuing a token changes nothing we care about: a lost answer is simply retryable.
            raise TransientError(SYSTEM, "token_unavailable", exc.message) from exc
        except PermanentError as exc:
            raise PermanentError(
                SYSTEM,
                "auth",
                f"the token endpoint refused c2c's client assertion: {exc.code}: {exc.message}",
                status=exc.status,
            ) from exc
        try:
            return token_answer(json_body(SYSTEM, response))
        except ValueError as exc:
            raise PermanentError(SYSTEM, "bad_response", str(exc)) from exc
