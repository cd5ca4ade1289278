"""AvaTax REST v2 emulator app: `create_app()` serves the transaction API plus sandbox admin endpoints."""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from pydantic import BaseModel, ValidationError

from sandbox.avatax import listing, resolve, transactions
from sandbox.avatax.models import (
    AddressLocationInfo,
    AddressValidationInfo,
    AdjustTransactionModel,
    CommitTransactionModel,
    CreateOrAdjustTransactionModel,
    CreateTransactionModel,
    VoidTransactionModel,
)
from sandbox.avatax.responses import AvaTaxError, DecimalJSONResponse, detail, loads
from sandbox.avatax.state import AvaTaxState
from sandbox.faults import install_faults

API_VERSION = "24.8.2"
Model = TypeVar("Model", bound=BaseModel)

# AvaTax's documented escapes for characters that cannot travel in a URL path segment.
PATH_ESCAPES = {"_-ava2f-_": "/", "_-ava2b-_": "+", "_-ava3f-_": "?", "_-ava25-_": "%", "_-ava23-_": "#"}


def decode_path_code(value: str) -> str:
    for escape, char in PATH_ESCAPES.items():
        value = value.replace(escape, char)
    return value


def _account_id(request: Request) -> int | None:
    """The account a Basic `accountId:licenseKey` header authenticates; None when it does not."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        account, sep, license_key = base64.b64decode(token, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not sep or not account.isdigit() or not license_key or license_key == "wrong":
        return None
    return int(account)


def authenticate(request: Request) -> int:
    if not request.headers.get("Authorization"):
        raise AvaTaxError.single(
            401,
            "AuthenticationIncomplete",
            34,
            "Authentication Incomplete.",
            "You must provide an Authorization header of the type Basic or Bearer to authenticate correctly.",
            target="HttpRequestHeaders",
        )
    account = _account_id(request)
    if account is None:
        raise AvaTaxError.single(
            401,
            "AuthenticationException",
            30,
            "Authentication failed.",
            "Missing authentication or unable to authenticate the user or the account.",
            target="HttpRequestHeaders",
        )
    return account


async def read(request: Request, model: type[Model]) -> Model:
    """Parse the JSON body (decimals exact) into `model`, answering AvaTax-style 400s on bad input."""
    try:
        data = loads(await request.body())
    except ValueError as exc:
        raise AvaTaxError.single(
            400, "JsonFormatError", 47, "The request body is not valid JSON.", str(exc), target="HttpRequest"
        ) from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "body"
            if error["type"] == "missing":
                details.append(detail("ValueRequiredError", 5, f"Field '{where}' is required.", "", refers_to=where))
            else:
                details.append(detail("ModelStateInvalid", 70, f"{where}: {error['msg']}", "", refers_to=where))
        raise AvaTaxError(400, details[0]["code"], details[0]["message"], "IncorrectData", details) from exc


def create_app() -> FastAPI:
    app = FastAPI(title="AvaTax REST v2 emulator", docs_url=None, redoc_url=None)
    install_faults(app)
    state = AvaTaxState()

    @app.middleware("http")
    async def avalara_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """The headers AvaTax puts on every answer, which Avalara's SDK reads (its logging fails without
        `X-Correlation-Id`): a correlation id (the caller's own when it sent one) and the server's duration."""
        started = time.perf_counter()
        response = await call_next(request)
        correlation = request.headers.get("X-Correlation-Id") or str(uuid.uuid4())
        response.headers["X-Correlation-Id"] = correlation
        seconds = time.perf_counter() - started
        response.headers["ServerDuration"] = f"00:00:{seconds:010.7f}"
        return response

    app.state.avatax = state

    @app.exception_handler(AvaTaxError)
    async def avatax_error(request: Request, exc: AvaTaxError) -> Response:
        return DecimalJSONResponse(exc.body, status_code=exc.status)

    @app.get("/_sandbox/state", include_in_schema=False)
    async def sandbox_state() -> Response:
        return DecimalJSONResponse(state.dump())

    @app.post("/_sandbox/reset", include_in_schema=False)
    async def sandbox_reset() -> dict[str, bool]:
        state.reset()
        return {"reset": True}

    @app.get("/api/v2/utilities/ping")
    async def ping(request: Request) -> dict[str, Any]:
        account = _account_id(request)
        return {
            "version": API_VERSION,
            "authenticated": account is not None,
            "authenticationType": "AccountIdLicenseKey" if account is not None else "None",
            "authenticatedAccountId": account,
        }

    api = APIRouter(prefix="/api/v2", dependencies=[Depends(authenticate)])

    @api.post("/transactions/create")
    async def create_transaction(request: Request) -> Response:
        model = await read(request, CreateTransactionModel)
        body = await transactions.create(state, model, adjust_existing=False)
        return DecimalJSONResponse(body, status_code=201)

    @api.post("/transactions/createoradjust")
    async def create_or_adjust_transaction(request: Request) -> Response:
        wrapper = await read(request, CreateOrAdjustTransactionModel)
        body = await transactions.create(state, wrapper.createTransactionModel, adjust_existing=True)
        return DecimalJSONResponse(body, status_code=201)

    @api.post("/companies/{company_code}/transactions/{transaction_code}/adjust")
    async def adjust_transaction(company_code: str, transaction_code: str, request: Request) -> Response:
        model = await read(request, AdjustTransactionModel)
        if model.adjustmentReason == "Other" and not model.adjustmentDescription:
            raise AvaTaxError.single(
                400,
                "ValueRequiredError",
                5,
                "Field 'adjustmentDescription' is required.",
                "An adjustment for reason Other needs an adjustmentDescription.",
                target="IncorrectData",
                refers_to="adjustmentDescription",
            )
        body = await transactions.adjust(
            state,
            decode_path_code(company_code),
            decode_path_code(transaction_code),
            model.adjustmentReason,
            model.newTransaction,
        )
        return DecimalJSONResponse(body)

    @api.get("/addresses/resolve")
    async def resolve_address(request: Request) -> Response:
        query = request.query_params
        fields = {name: query.get(name) for name in AddressLocationInfo.model_fields}
        return DecimalJSONResponse(resolve.resolve(AddressLocationInfo(**fields), query.get("textCase")))

    @api.post("/addresses/resolve")
    async def resolve_address_post(request: Request) -> Response:
        model = await read(request, AddressValidationInfo)
        return DecimalJSONResponse(resolve.resolve(model, model.textCase))

    @api.get("/companies/{company_code}/transactions")
    async def list_transactions(company_code: str, request: Request) -> Response:
        params = request.query_params
        code = decode_path_code(company_code)
        transactions.company(code)
        try:
            top, skip = int(params.get("$top", listing.MAX_TOP)), int(params.get("$skip", 0))
        except ValueError:
            raise listing.bad_filter("$top and $skip are whole numbers") from None
        body = listing.list_documents(
            state,
            code,
            filter_text=params.get("$filter"),
            top=top,
            skip=skip,
            include=params.get("$include", ""),
            next_link=lambda later: str(request.url.include_query_params(**{"$top": top, "$skip": later})),
        )
        return DecimalJSONResponse(body)

    @api.get("/companies/{company_code}/transactions/{transaction_code}")
    async def get_transaction(company_code: str, transaction_code: str) -> Response:
        doc = transactions.find(state, decode_path_code(company_code), decode_path_code(transaction_code))
        return DecimalJSONResponse(doc.model())

    @api.post("/companies/{company_code}/transactions/{transaction_code}/commit")
    async def commit_transaction(company_code: str, transaction_code: str, request: Request) -> Response:
        model = await read(request, CommitTransactionModel)
        body = await transactions.commit(
            state, decode_path_code(company_code), decode_path_code(transaction_code), commit=model.commit
        )
        return DecimalJSONResponse(body)

    @api.post("/companies/{company_code}/transactions/{transaction_code}/void")
    async def void_transaction(company_code: str, transaction_code: str, request: Request) -> Response:
        await read(request, VoidTransactionModel)
        body = await transactions.void(state, decode_path_code(company_code), decode_path_code(transaction_code))
        return DecimalJSONResponse(body)

    app.include_router(api)
    return app
