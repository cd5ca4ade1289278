"""Xero identity for a custom connection: the client credentials, the organisation (tenant) of each legal entity,
and one cached access token fetched again before it expires."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from connectors.errors import PermanentError, TransientError, UncertainOutcome
from connectors.kit import CachedToken, json_body, send
from connectors.xero import wire
from connectors.xero.errors import SYSTEM, classify

SCOPES = "accounting.transactions accounting.contacts accounting.settings.read"
TOKEN_MARGIN_SECONDS = 60.0  # a new token this long before the old one expires (Xero's live 30 minutes)


@dataclass(frozen=True)
class XeroCredentials:
    """A custom connection's client id and secret, and the organisation (tenant id) of each legal entity."""

    client_id: str
    client_secret: str = field(repr=False)
    tenants: dict[str, str] = field(default_factory=dict)


class TokenSource(CachedToken):
    """One cached access token, fetched again before it expires; `clock` is monotonic seconds (tests move it)."""

    def __init__(
        self, http: httpx.AsyncClient, url: str, credentials: XeroCredentials, clock: Callable[[], float]
    ) -> None:
        super().__init__(clock, TOKEN_MARGIN_SECONDS)
        self._http, self._url, self._credentials = http, url, credentials

    async def _fetch(self) -> tuple[str, float]:
        basic = base64.b64encode(f"{self._credentials.client_id}:{self._credentials.client_secret}".encode()).decode()
        request = self._http.build_request(
            "POST",
            self._url,
            data={"grant_type": "client_credentials", "scope": SCOPES},
            headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
        )
        try:
            response = await send(self._http, SYSTEM, request, classify)
        except UncertainOutcome as exc:  # issuing a token changes nothing we care about
            raise TransientError(SYSTEM, "token_unavailable", exc.message) from exc
        except PermanentError as exc:
            raise PermanentError(
                SYSTEM, "auth", f"Xero identity refused the client credentials: {exc.code}: {exc.message}"
            ) from exc
        try:
            return wire.token_answer(json_body(SYSTEM, response))
        except ValueError as exc:
            raise PermanentError(SYSTEM, "bad_response", str(exc)) from exc
