"""Who may call the API and with what: bearer tokens with scopes, and limits on request bodies.

Webhooks authenticate by their signatures (connectors/*/webhooks.py); everything else by a bearer token whose
scopes include the endpoint's (`Scope` in settings/). A refused request changes nothing: 401 without a valid
token, 403 when the token lacks the scope, 413/415 before a body is read.
"""

from __future__ import annotations

import hmac
import json
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from api.errors import ApiError
from settings import ApiToken, Scope, Settings

DEFAULT_MAX_BODY_BYTES = 256 * 1024  # Stripe's largest events (invoices with many lines) fit comfortably


# Declares the bearer scheme in the OpenAPI document (so /docs offers "Authorize"); `holder` does the checking,
# with the API's own 401 body, so this never refuses anything itself.

BEARER = HTTPBearer(auto_error=False, description="an API token; its scopes decide what it may call")


class TokenBook:
    """The accepted tokens; compared in constant time, and never logged or echoed."""

    def __init__(self, tokens: list[ApiToken]) -> None:
        self.tokens = [(t, t.token.get_secret_value().encode()) for t in tokens]

    def holder(self, request: Request) -> ApiToken:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise ApiError(401, "unauthorized", "send Authorization: Bearer <api token>")
        candidate = presented.strip().encode()
        found = None
        for token, secret in self.tokens:  # no early exit: the time taken does not say which token matched
            if hmac.compare_digest(candidate, secret):
                found = token
        if found is None:
            raise ApiError(401, "unauthorized", "the bearer token is not valid")
        return found

    def require(self, scope: Scope) -> Any:
        """A FastAPI dependency admitting tokens with `scope`."""

        async def check(request: Request, _: Annotated[object, Security(BEARER)] = None) -> ApiToken:
            token = self.holder(request)
            if scope not in token.scopes:
                raise ApiError(403, "forbidden", f"token {token.name!r} lacks the {scope.value!r} scope")
            return token

        return Depends(check)


# Salesforce Outbound Messages are SOAP: their endpoint takes XML (parsed with defusedxml), every other one JSON.
XML_PATHS = frozenset({"/webhooks/salesforce/outbound"})
XML_MEDIA_TYPES = ("text/xml", "application/soap+xml")


class BodyLimits:
    """ASGI middleware: bodies over `max_bytes` get 413 and bodies of POST/PUT/PATCH that are not JSON get 415,
    before the application reads them (a declared Content-Length is checked up front, a chunked body as it
    streams in)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _answer(send, 413, "body_too_large", f"request bodies are limited to {self.max_bytes} bytes")
            return
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        has_body = (length is not None and int(length) > 0) or "transfer-encoding" in headers
        accepted = XML_MEDIA_TYPES if scope.get("path") in XML_PATHS else ("application/json",)
        if has_body and media_type not in accepted:
            shown = media_type or "none"
            await _answer(send, 415, "unsupported_media_type", f"Content-Type must be application/json, not {shown}")
            return
        seen = 0
        answered = False

        async def bounded() -> Message:
            nonlocal seen, answered
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    answered = True
                    await _answer(send, 413, "body_too_large", f"request bodies are limited to {self.max_bytes} bytes")
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, bounded, send)
        except _BodyTooLarge:
            if not answered:
                raise


class _BodyTooLarge(Exception):
    pass


async def _answer(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": code, "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def for_settings(settings: Settings) -> TokenBook:
    return TokenBook(settings.tokens())
