"""Structured logs: JSON lines (`log_format=json`, production) or readable console lines (dev).

Every line says which saga (correlation id = workflow id), stage and system it belongs to where that is known:
from the activity interceptor's context, from Temporal's `temporal_workflow` / `temporal_activity` extras, or
from `c2c_*` extras. Nothing else of a record's extras is written, so payloads handed to a logger as extras never
reach the output. Known secrets (every credential in Settings) and credential-shaped text are redacted from the
formatted line, tracebacks included; the HTTP and SQL libraries are held at WARNING (the Temporal worker at INFO),
because their verbose output carries headers, bodies, SQL parameters or raw payloads.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from opentelemetry import trace
from pydantic import BaseModel, SecretStr
from temporalio import activity, workflow

from observability import correlation
from settings import Settings

# Libraries whose verbose levels log what must never be logged, and the most they may say: HTTP headers and
# bodies, SQL parameters (customer names, tax ids), and the Temporal worker's DEBUG dumps of activation jobs and
# activity completions, whose payloads are plaintext when no payload key is configured.
QUIET_LOGGERS = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "hpack": logging.WARNING,
    "h11": logging.WARNING,
    "h2": logging.WARNING,
    "urllib3": logging.WARNING,
    "sqlalchemy": logging.WARNING,
    "temporalio.worker": logging.INFO,
}
_SECRET_FIELD = re.compile(r"(secret|key|token|password|credential)", re.IGNORECASE)
_NOT_SECRET_FIELD = re.compile(r"(_file|_url|_id)$")
_MIN_SECRET = 6  # shorter values would redact ordinary words
REDACTED = "[redacted]"
_CREDENTIAL_PATTERNS = [
    # Authorization: Bearer xyz / "authorization": "Basic xyz" / authorization=xyz
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?:(?:bearer|basic)\s+)?[^\s\"',;}]+"),
    re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)\b((?:client_secret|access_token|refresh_token|api_key|license_key|password)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;}]+"
    ),
    re.compile(r"\b()(?:sk|rk)_(?:test|live)_[A-Za-z0-9]{4,}"),
    re.compile(r"\b()whsec_[A-Za-z0-9_]{4,}"),
]
_HANDLER_MARK = "_c2c_handler"


def secret_values(settings: Settings) -> list[str]:
    """Every credential in Settings: each SecretStr (API keys, client secrets, webhook secrets, API tokens, also
    inside nested models), plain strings in fields named like one, and each payload key."""
    values: list[str] = []
    for name in type(settings).model_fields:
        values.extend(_secrets(getattr(settings, name), _named_secret(name)))
    keys = settings.encryption_keys()
    if keys:
        # "id:base64key,…": the whole value and each key's material on its own.
        values.append(keys)
        values.extend(part.partition(":")[2] for part in keys.split(","))
    return sorted({value for value in values if len(value) >= _MIN_SECRET}, key=len, reverse=True)


def _named_secret(name: str) -> bool:
    return bool(_SECRET_FIELD.search(name)) and not _NOT_SECRET_FIELD.search(name)


def _secrets(value: Any, named: bool) -> Iterable[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, str):
        if named:
            yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secrets(getattr(value, name), _named_secret(name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secrets(item, named)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _secrets(item, named)


class Redactor:
    """Removes known secret values and credential-shaped text from a formatted line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        for pattern in _CREDENTIAL_PATTERNS:
            text = pattern.sub(lambda match: f"{match.group(1)}{REDACTED}", text)
        return text


def context_fields(record: logging.LogRecord) -> dict[str, str | None]:
    """correlation id, stage, system (and Temporal/trace ids) of a record, from wherever they are known."""
    work = correlation.current()
    temporal: dict[str, Any] = (
        getattr(record, "temporal_activity", None) or getattr(record, "temporal_workflow", None) or {}
    )
    fields: dict[str, str | None] = {
        "correlation_id": (
            getattr(record, "c2c_correlation_id", None) or work.correlation_id or temporal.get("workflow_id")
        ),
        "stage": getattr(record, "c2c_stage", None) or work.stage,
        "system": getattr(record, "c2c_system", None) or work.system,
        "vendor": getattr(record, "c2c_vendor", None),
        "workflow_type": temporal.get("workflow_type"),
        "activity": temporal.get("activity_type"),
        "event": getattr(record, "c2c_event", None),
        "record_id": getattr(record, "c2c_record", None),
        "code": getattr(record, "c2c_code", None),
    }
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        fields["trace_id"] = format(span.trace_id, "032x")
        fields["span_id"] = format(span.span_id, "016x")
    return {key: str(value) for key, value in fields.items() if value is not None}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context fields, exception."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            # Redacted before encoding: JSON escaping would hide a quoted `"authorization": "…"` from the patterns.
            "message": self.redact(record.getMessage()),
            **context_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.redact(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exception"] = self.redact(record.exc_text)
        return json.dumps(line, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """`12:00:01 INFO  c2c.connectors [c2c:salesforce:006… tax tax] message` for a terminal."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)-5s %(name)s %(c2c_context)s%(message)s", "%H:%M:%S")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        fields = context_fields(record)
        shown = [value for key in ("correlation_id", "stage", "system") if (value := fields.get(key))]
        record.c2c_context = f"[{' '.join(shown)}] " if shown else ""
        return self.redact(super().format(record))


def setup_logging(settings: Settings, stream: IO[str] | None = None) -> logging.Handler:
    """Send the process's logs to `stream` (stderr) as `log_format` says, at `log_level`; replaces an earlier
    call's handler. Returns the handler."""
    redact = Redactor(secret_values(settings))
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(redact) if settings.log_format == "json" else ConsoleFormatter(redact))
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for name, most in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(most, root.level))
    # The context is written as fields; Temporal's default would append its dict to every message as well.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    return handler
