"""Who may call the HubSpot emulator and how often: private-app tokens and OAuth 2.0 access tokens, and HubSpot's
rolling ten-second and daily limits with their `X-HubSpot-RateLimit-*` headers.

HubSpot's OAuth token endpoint (`POST /oauth/v1/token`, form-encoded) takes `refresh_token` grants (and, for
server-to-server apps, `client_credentials`); an access token lives `token_ttl` seconds and is then refused with
401 EXPIRED_AUTHENTICATION. Over the limit: 429 with `errorType` RATE_LIMIT and the `policyName` that tripped.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass, field

from fastapi.responses import JSONResponse

PRIVATE_APP_TOKEN = "pat-na1-c2c-sandbox"
CLIENT_ID = "c2c-hubspot-client"
CLIENT_SECRET = "c2c-hubspot-secret"  # also the secret webhooks v3 are signed with
REFRESH_TOKEN = "c2c-hubspot-refresh"
INTERVAL_MS = 10_000


def error(status: int, message: str, category: str, **extra: object) -> JSONResponse:
    """HubSpot's error body: status "error", a message, a correlation id and a category."""
    body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category, **extra}
    return JSONResponse(body, status_code=status)


@dataclass
class Limits:
    """Calls per rolling ten seconds and per day (HubSpot Professional's private-app limits by default)."""

    ten_secondly: int = 190
    daily: int = 625_000


@dataclass
class Gate:
    """The portal's credentials and its call counts."""

    private_tokens: set[str] = field(default_factory=lambda: {PRIVATE_APP_TOKEN})
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    refresh_tokens: set[str] = field(default_factory=lambda: {REFRESH_TOKEN})
    token_ttl: float = 1800.0
    limits: Limits = field(default_factory=Limits)
    access_tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (time.time())
    recent: deque[float] = field(default_factory=deque)
    today: int = 0

    def issue(self) -> tuple[str, int]:
        token = f"CNb{uuid.uuid4().hex}"
        self.access_tokens[token] = time.time() + self.token_ttl
        return token, int(self.token_ttl)

    def refused(self, authorization: str | None) -> JSONResponse | None:
        """The 401 a request gets, or None when its bearer token is good."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return error(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
                "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                "INVALID_AUTHENTICATION",
            )
        if token in self.private_tokens:
            return None
        expiry = self.access_tokens.get(token)
        if expiry is None:
            return error(401, "Authentication credentials not found.", "INVALID_AUTHENTICATION")
        if time.time() >= expiry:
            ago = int(time.time() - expiry)
            return error(
                401, f"The OAuth token used to make this call expired {ago} second(s) ago.", "EXPIRED_AUTHENTICATION"
            )
        return None

    def count(self) -> tuple[dict[str, str], JSONResponse | None]:
        """Count one call: the rate-limit headers every answer carries, and the 429 when over a limit."""
        now = time.monotonic()
        while self.recent and now - self.recent[0] >= INTERVAL_MS / 1000:
            self.recent.popleft()
        over: str | None = None
        if self.today >= self.limits.daily:
            over = "DAILY"
        elif len(self.recent) >= self.limits.ten_secondly:
            over = "TEN_SECONDLY_ROLLING"
        else:
            self.recent.append(now)
            self.today += 1
        headers = {
            "X-HubSpot-RateLimit-Daily": str(self.limits.daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.limits.daily - self.today)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(INTERVAL_MS),
            "X-HubSpot-RateLimit-Max": str(self.limits.ten_secondly),
            "X-HubSpot-RateLimit-Remaining": str(max(0, self.limits.ten_secondly - len(self.recent))),
        }
        if over is None:
            return headers, None
        refusal = error(
            429,
            f"You have reached your {over.lower()} limit.",
            "RATE_LIMITS",
            errorType="RATE_LIMIT",
            policyName=over,
            groupName=f"publicapi:private-app:{self.client_id}",
        )
        refusal.headers.update(headers)
        return headers, refusal
