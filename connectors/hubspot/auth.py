"""How c2c authenticates to HubSpot: a private app's access token (a static bearer token), or an OAuth 2.0 app's
refresh token exchanged at `POST /oauth/v1/token` for access tokens that live `expires_in` seconds (30 minutes).

An OAuth access token is fetched again a minute before it expires, and once more when HubSpot refuses it with 401
(revoked, or the portal's clock disagrees); a private app token HubSpot refuses is refused for good."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx
from pydantic import ValidationError

from connectors.errors import PermanentError, TransientError, UncertainOutcome
from connectors.hubspot.errors import SYSTEM, classify
from connectors.hubspot.wire import TokenResponse
from connectors.kit import CachedToken, json_body, send

TOKEN_PATH = "/oauth/v1/token"
TOKEN_MARGIN_SECONDS = 60.0


@dataclass(frozen=True)
class HubSpotCredentials:
    """Either `access_token` (a private app) or `client_id` + `client_secret` + `refresh_token` (an OAuth app)."""

    access_token: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    refresh_token: str | None = None

    def __post_init__(self) -> None:
        oauth = (self.client_id, self.client_secret, self.refresh_token)
        if not self.access_token and not all(oauth):
            raise ValueError("HubSpot needs a private app access token, or client id, client secret and refresh token")


class TokenSource(CachedToken):
    """The bearer token for the next request; `renewable` says whether a refused one can be replaced."""

    def __init__(
        self, http: httpx.AsyncClient, base_url: str, credentials: HubSpotCredentials, clock: Callable[[], float]
    ) -> None:
        super().__init__(clock, TOKEN_MARGIN_SECONDS)
        self._http, self._url, self._credentials = http, base_url + TOKEN_PATH, credentials

    @property
    def renewable(self) -> bool:
        return not self._credentials.access_token

    async def token(self) -> str:
        if self._credentials.access_token:
            return self._credentials.access_token
        return await super().token()

    async def _fetch(self) -> tuple[str, float]:
        credentials = self._credentials
        request = self._http.build_request(
            "POST",
            self._url,
            data={
                "grant_type": "refresh_token",
                "client_id": credentials.client_id or "",
                "client_secret": credentials.client_secret or "",
                "refresh_token": credentials.refresh_token or "",
            },
            headers={"Accept": "application/json"},
        )
        try:
            response = await send(self._http, SYSTEM, request, classify)
        except UncertainOutcome as exc:  # issuing a token changes nothing we care about
            raise TransientError(SYSTEM, "token_unavailable", exc.message) from exc
        except PermanentError as exc:
            raise PermanentError(
                SYSTEM, "auth", f"HubSpot refused c2c's refresh token: {exc.code}: {exc.message}", status=exc.status
            ) from exc
        try:
            answer = TokenResponse.model_validate(json_body(SYSTEM, response))
        except ValidationError as exc:
            raise PermanentError(SYSTEM, "bad_response", f"unexpected token answer: {exc}") from exc
        return answer.access_token, answer.expires_in
