"""The remote codec endpoint the Temporal UI calls to show decrypted payloads (POST /codec/decode|encode).

Protocol: JSON `{"payloads": [{"metadata": {...base64}, "data": base64}]}` in and out (Temporal's
`Payloads` message as proto JSON). Whoever can call it can read payloads: the API guards it with a bearer
token with the `codec` scope and CORS admits only the configured UI origins. The Temporal UI cannot hold a
static token (its pass-access-token option forwards its own sign-on token), so in production put a sign-on
proxy in front that adds the token, or, on a private network only, set C2C_CODEC_ANONYMOUS (docs/deploy.md).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec


def install_codec_endpoint(
    app: FastAPI, codec: PayloadCodec, ui_origins: list[str], dependencies: list[Any] | None = None
) -> None:
    """`dependencies` guard both routes (the API passes its bearer-token check with the `codec` scope)."""
    router = APIRouter(prefix="/codec", dependencies=dependencies or [])

    async def transcode(request: Request, decode: bool) -> Response:
        try:
            payloads = json_format.Parse(await request.body(), Payloads())
        except json_format.ParseError as error:
            return Response(f'{{"error": "bad_payloads", "message": "{error}"}}', 400, media_type="application/json")
        items = list(payloads.payloads)
        try:
            result = await (codec.decode(items) if decode else codec.encode(items))
        except ValueError as error:  # unknown key id, tampered ciphertext (InvalidTag is not a ValueError)
            return Response(f'{{"error": "cannot_decode", "message": "{error}"}}', 422, media_type="application/json")
        return Response(json_format.MessageToJson(Payloads(payloads=result)), media_type="application/json")

    @router.post("/decode")
    async def decode(request: Request) -> Response:
        return await transcode(request, decode=True)

    @router.post("/encode")
    async def encode(request: Request) -> Response:
        return await transcode(request, decode=False)

    app.include_router(router)
    # The UI calls from the browser, on another origin.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=ui_origins,
        allow_methods=["POST"],
        allow_headers=["Content-Type", "X-Namespace", "Authorization"],
        allow_credentials=True,
    )
