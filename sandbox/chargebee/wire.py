"""Chargebee's wire format: form bodies in bracket notation, list filters and pages, and the error body.

A POST body is `application/x-www-form-urlencoded`; nested parameters use brackets (`billing_address[city]=Berlin`)
and multi-valued ones an index (`subscription_items[item_price_id][0]=...&subscription_items[quantity][0]=2`).
A list takes `limit` (1-100, default 10), an opaque `offset` (the previous page's `next_offset`) and filters
`field[op]=value` (`id[is]`, `customer_id[is]`, `status[in]=["paid","voided"]`, `date[after]=<unix>` ...).
Every refusal is `{"message", "type", "api_error_code", "param", "error_code", "http_status_code"}`.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any
from urllib.parse import parse_qsl

Record = dict[str, Any]
_KEY = re.compile(r"^([A-Za-z0-9_]+)((?:\[[A-Za-z0-9_]*\])*)$")
_PART = re.compile(r"\[([A-Za-z0-9_]*)\]")
MAX_LIMIT = 100
DEFAULT_LIMIT = 10


class ApiError(Exception):
    """A refusal in Chargebee's error shape; `type` is None where Chargebee sends none (auth, limits, 5xx)."""

    def __init__(
        self,
        status: int,
        api_error_code: str,
        message: str,
        *,
        type_: str | None = "invalid_request",
        param: str | None = None,
        error_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.api_error_code, self.message = status, api_error_code, message
        self.type, self.param, self.error_code = type_, param, error_code or api_error_code

    def body(self) -> Record:
        body: Record = {"message": self.message, "api_error_code": self.api_error_code}
        if self.type is not None:
            body["type"] = self.type
        if self.param is not None:
            body["param"] = self.param
        body["error_code"] = self.error_code
        body["http_status_code"] = self.status
        return body


def not_found(kind: str, record_id: str) -> ApiError:
    return ApiError(404, "resource_not_found", f"Sorry, we couldn't find that resource: {kind} {record_id}")


def wrong_value(param: str, message: str) -> ApiError:
    return ApiError(400, "param_wrong_value", message, param=param, error_code="param_invalid_value")


def missing(param: str) -> ApiError:
    return ApiError(400, "param_wrong_value", f"{param} : cannot be blank", param=param, error_code="param_required")


def invalid_state(message: str) -> ApiError:
    return ApiError(400, "invalid_state_for_request", message, error_code="invalid_state_for_request")


def parse_form(raw: bytes) -> Record:
    """The nested parameters of a form body (or query string); ApiError naming a malformed key."""
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise ApiError(400, "param_wrong_value", "the request body is not UTF-8") from None
    form: Record = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if match is None:
            raise wrong_value(key[:60], f"{key[:60]} : is not a valid parameter name")
        path = [match.group(1), *_PART.findall(match.group(2))]
        node = form
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise wrong_value(key[:60], f"{key[:60]} : given both as a value and as a group")
            node = child
        if isinstance(node.get(path[-1]), dict):
            raise wrong_value(key[:60], f"{key[:60]} : given both as a value and as a group")
        node[path[-1]] = value
    return form


def rows(form: Record, name: str) -> list[Record]:
    """A multi-valued group (`name[field][i]`) as one record per index, in index order."""
    group = form.get(name)
    if group is None:
        return []
    if not isinstance(group, dict):
        raise wrong_value(name, f"{name} : must be given as {name}[attribute][index]")
    by_index: dict[int, Record] = {}
    for field_name, values in group.items():
        if not isinstance(values, dict) or not all(index.isdigit() for index in values):
            raise wrong_value(f"{name}[{field_name}]", f"{name}[{field_name}] : needs an index, e.g. [0]")
        for index, value in values.items():
            by_index.setdefault(int(index), {})[field_name] = value
    return [by_index[index] for index in sorted(by_index)]


def text(form: Record, name: str, *, required: bool = False, max_length: int = 250) -> str | None:
    value = form.get(name)
    if value is None or value == "":
        if required:
            raise missing(name)
        return None
    if not isinstance(value, str):
        raise wrong_value(name, f"{name} : must be a single value")
    if len(value) > max_length:
        raise wrong_value(name, f"{name} : cannot be more than {max_length} characters")
    return value


def integer(form: Record, name: str, *, required: bool = False, low: int = 0, high: int = 10**15) -> int | None:
    value = text(form, name, required=required, max_length=20)
    if value is None:
        return None
    if not re.fullmatch(r"-?\d+", value) or not low <= int(value) <= high:
        raise wrong_value(name, f"{name} : must be a whole number from {low} to {high}")
    return int(value)


def boolean(form: Record, name: str, default: bool) -> bool:
    value = text(form, name, max_length=5)
    if value is None:
        return default
    if value not in ("true", "false"):
        raise wrong_value(name, f"{name} : must be true or false")
    return value == "true"


def choice(form: Record, name: str, options: tuple[str, ...], *, default: str | None = None) -> str | None:
    value = text(form, name, max_length=60)
    if value is None:
        return default
    if value not in options:
        raise wrong_value(name, f"{name} : must be one of {', '.join(options)}")
    return value


def json_object(form: Record, name: str) -> Record:
    """A `meta_data`-style parameter: a JSON object sent as text."""
    value = text(form, name, max_length=65_000)
    if value is None:
        return {}
    try:
        parsed = json.loads(value)
    except ValueError:
        raise wrong_value(name, f"{name} : is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise wrong_value(name, f"{name} : must be a JSON object")
    return parsed


def custom_fields(form: Record) -> Record:
    """The `cf_*` parameters (custom fields) as they are stored and answered."""
    return {key: text(form, key) for key in form if key.startswith("cf_")}


_RECORD_ID = re.compile(r"^[A-Za-z0-9_.@\-]{1,50}$")


def record_id(form: Record, name: str = "id") -> str | None:
    """A caller-chosen id: up to 50 characters, letters, digits and `_ - . @` (Chargebee's rule for ids)."""
    value = text(form, name, max_length=50)
    if value is not None and not _RECORD_ID.match(value):
        raise wrong_value(name, f"{name} : only letters, digits and _ - . @ are allowed")
    return value


# ---- lists ---------------------------------------------------------------------------------------------------


def _values(raw: str) -> list[str]:
    """An `[in]` value: a JSON array, or the SDK's Python-style list (`['a', 'b']`)."""
    try:
        parsed = json.loads(raw)
    except ValueError:
        try:
            parsed = ast.literal_eval(raw)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise wrong_value("filter", f"{raw[:60]} : is not a list of values") from None
    if not isinstance(parsed, list):
        raise wrong_value("filter", f"{raw[:60]} : is not a list of values")
    return [str(item) for item in parsed]


def _matches(value: Any, op: str, operand: str, param: str) -> bool:
    if op in ("in", "not_in"):
        found = (str(value).lower() if isinstance(value, bool) else str(value)) in _values(operand)
        return found if op == "in" else not found
    if isinstance(value, bool):
        value = str(value).lower()
    if op == "is":
        return str(value) == operand
    if op == "is_not":
        return str(value) != operand
    if op == "starts_with":
        return str(value).startswith(operand)
    if op == "is_present":
        return (value is not None) == (operand == "true")
    if op in ("after", "before", "on", "gt", "gte", "lt", "lte"):
        if not re.fullmatch(r"-?\d{1,15}", operand):
            raise wrong_value(param, f"{param} : must be a number")
        if not isinstance(value, int):
            return False
        number = int(operand)
        return {
            "after": value > number,
            "gt": value > number,
            "before": value < number,
            "lt": value < number,
            "on": value == number,
            "gte": value >= number,
            "lte": value <= number,
        }[op]
    raise wrong_value(param, f"{param} : unknown filter operator {op}")


def listed(records: list[Record], query: Record, kind: str, filters: tuple[str, ...]) -> Record:
    """One page of `records` (newest first, as Chargebee lists) filtered by `query`, in the list envelope."""
    limit = integer(query, "limit", low=1, high=MAX_LIMIT) or DEFAULT_LIMIT
    start = 0
    offset = text(query, "offset", max_length=100)
    if offset is not None:
        try:
            parsed = json.loads(offset)
            start = int(parsed[0]) if isinstance(parsed, list) and len(parsed) == 1 else -1
        except (ValueError, TypeError):
            start = -1
        if start < 0:
            raise wrong_value("offset", "offset : is not a value this list gave as next_offset")
    chosen = list(records)
    for name, condition in query.items():
        if name in ("limit", "offset", "include_deleted") or name.startswith("sort_by"):
            continue
        if name not in filters or not isinstance(condition, dict):
            raise wrong_value(name, f"{name} : is not a filter of this list")
        for op, operand in condition.items():
            chosen = [r for r in chosen if _matches(r.get(name), op, str(operand), f"{name}[{op}]")]
    order = query.get("sort_by")
    if isinstance(order, dict) and order:
        direction, field_name = next(iter(order.items()))
        chosen.sort(key=lambda r: (r.get(field_name) is None, r.get(field_name) or 0), reverse=direction == "desc")
    else:
        chosen.reverse()
    page = chosen[start : start + limit]
    body: Record = {"list": [{kind: record} for record in page]}
    if start + limit < len(chosen):
        body["next_offset"] = json.dumps([str(start + limit)])
    return body
