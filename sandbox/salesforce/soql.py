"""A SOQL subset with Salesforce's errors: SELECT f, ... FROM Obj [WHERE cond [AND cond ...]] [LIMIT n].

A condition is `Field op literal` with op one of = != < <= > >= (ordering on dates, datetimes and numbers), or
`Field IN (literal, ...)`. Literals: 'strings', numbers, dates (2024-06-30), datetimes (2024-06-30T12:00:00Z,
with optional milliseconds and a +hh:mm / -hh:mm offset instead of Z), null, true, false.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sandbox.salesforce import ids
from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.schema import FieldSpec, FieldType, ObjectSpec, find_object

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2}))(?![\w.-])
    | (?P<date>\d{4}-\d{2}-\d{2})(?![\w.-])
    | (?P<number>-?\d+(?:\.\d+)?)(?![\w.])
    | (?P<op>!=|<=|>=|=|<|>)
    | (?P<comma>,)
    | (?P<paren>[()])
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
_ORDERING = ("<", "<=", ">", ">=")
_LITERAL_KINDS = ("string", "number", "date", "datetime", "word")


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


@dataclass(frozen=True)
class Condition:
    field: str
    op: str  # = != < <= > >= or IN
    literals: tuple[Token, ...]


@dataclass(frozen=True)
class Query:
    fields: list[str]
    sobject: str
    where: list[Condition]
    limit: int | None


def malformed(message: str) -> ApiError:
    return ApiError(400, "MALFORMED_QUERY", message)


def tokenize(text: str) -> list[Token]:
    tokens = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            bad = text[position:].strip().split(" ")[0]
            raise malformed(f"unexpected token: '{bad}'")
        tokens.append(Token(match.lastgroup, match.group(match.lastgroup)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.position = 0

    def peek(self) -> Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, kind: str, keyword: str | None = None) -> Token:
        token = self.peek()
        if token is None:
            raise malformed("unexpected end of query")
        if token.kind != kind or (keyword is not None and token.text.upper() != keyword):
            raise malformed(f"unexpected token: '{token.text}'")
        self.position += 1
        return token

    def at_keyword(self, keyword: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "word" and token.text.upper() == keyword

    def parse(self) -> Query:
        self.take("word", "SELECT")
        fields = [self.take("word").text]
        while self.peek() is not None and self.peek() == Token("comma", ","):
            self.take("comma")
            fields.append(self.take("word").text)
        self.take("word", "FROM")
        sobject = self.take("word").text
        where = []
        if self.at_keyword("WHERE"):
            self.take("word")
            where.append(self.condition())
            while self.at_keyword("AND"):
                self.take("word")
                where.append(self.condition())
        limit = None
        if self.at_keyword("LIMIT"):
            self.take("word")
            token = self.take("number")
            if not token.text.isdigit():
                raise malformed(f"unexpected token: '{token.text}'")
            limit = int(token.text)
        trailing = self.peek()
        if trailing is not None:
            raise malformed(f"unexpected token: '{trailing.text}'")
        return Query(fields, sobject, where, limit)

    def condition(self) -> Condition:
        field = self.take("word").text
        if self.at_keyword("IN"):
            self.take("word")
            self.take("paren", "(")
            literals = [self.literal()]
            while self.peek() == Token("comma", ","):
                self.take("comma")
                literals.append(self.literal())
            self.take("paren", ")")
            return Condition(field, "IN", tuple(literals))
        op = self.take("op").text
        return Condition(field, op, (self.literal(),))

    def literal(self) -> Token:
        literal = self.peek()
        if literal is None:
            raise malformed("unexpected end of query")
        if literal.kind == "word" and literal.text.lower() not in ("null", "true", "false"):
            raise malformed(f"unexpected token: '{literal.text}'")
        if literal.kind not in _LITERAL_KINDS:
            raise malformed(f"unexpected token: '{literal.text}'")
        self.position += 1
        return literal


def parse(text: str) -> Query:
    """Parse a query of the subset or raise MALFORMED_QUERY."""
    return _Parser(tokenize(text)).parse()


def _unquote(literal: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), literal[1:-1])


def _filter_error(spec: FieldSpec, kind: str, quoted: bool) -> ApiError:
    quotes = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
    return ApiError(
        400,
        "INVALID_QUERY_FILTER_OPERATOR",
        f"value of filter criterion for field '{spec.name}' must be of type {kind} and {quotes}",
    )


def _filter_value(spec: FieldSpec, literal: Token) -> Any:
    """The literal as a value comparable with the stored field value (None for null)."""
    if literal.kind == "word" and literal.text.lower() == "null":
        return None
    kind = spec.type
    if kind in (FieldType.ID, FieldType.REFERENCE):
        if literal.kind != "string":
            raise _filter_error(spec, "id", quoted=True)
        value = _unquote(literal.text)
        record_id = ids.normalise(value)
        if record_id is None:
            raise ApiError(400, "INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {value}")
        return record_id
    if kind.is_text:
        if literal.kind != "string":
            raise _filter_error(spec, "string", quoted=True)
        return _unquote(literal.text).casefold()
    if kind.is_number:
        if literal.kind != "number":
            raise _filter_error(spec, "double", quoted=False)
        return Decimal(literal.text)
    if kind is FieldType.BOOLEAN:
        if literal.kind != "word" or literal.text.lower() not in ("true", "false"):
            raise _filter_error(spec, "boolean", quoted=False)
        return literal.text.lower() == "true"
    if kind is FieldType.DATETIME:
        if literal.kind != "datetime":
            raise _filter_error(spec, "dateTime", quoted=False)
        return _datetime(literal.text)
    if literal.kind != "date":
        raise _filter_error(spec, "date", quoted=False)
    return literal.text


def _datetime(text: str) -> datetime:
    """A datetime literal (`Z` or `+hh:mm`) or a stored value (`2024-06-01T12:00:00.000+0000`), timezone-aware."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _comparable(spec: FieldSpec, value: Any) -> Any:
    if value is None:
        return None
    if spec.type.is_text:
        return str(value).casefold()
    if spec.type.is_number:
        return Decimal(value)
    if spec.type is FieldType.DATETIME:
        return _datetime(str(value))
    return value


def _matches(stored: Any, op: str, values: list[Any]) -> bool:
    """SOQL semantics: null equals only null, and an ordering comparison with null is false."""
    if op == "IN":
        return stored in values
    value = values[0]
    if op in ("=", "!="):
        return (stored == value) == (op == "=")
    if stored is None or value is None:
        return False
    return {"<": stored < value, "<=": stored <= value, ">": stored > value, ">=": stored >= value}[op]


def _bind(spec: ObjectSpec, condition: Condition) -> tuple[FieldSpec, str, list[Any]]:
    field = _field(spec, condition.field)
    if condition.op in _ORDERING and (
        field.type.is_text or field.type in (FieldType.ID, FieldType.REFERENCE, FieldType.BOOLEAN)
    ):
        # Salesforce orders strings too; the subset keeps ordering to dates, datetimes and numbers.
        raise ApiError(
            400, "INVALID_QUERY_FILTER_OPERATOR", f"ordering operator {condition.op} on field '{field.name}'"
        )
    return field, condition.op, [_filter_value(field, literal) for literal in condition.literals]


def _field(spec: ObjectSpec, name: str) -> FieldSpec:
    found = spec.field(name)
    if found is None:
        raise ApiError(
            400,
            "INVALID_FIELD",
            f"No such column '{name}' on entity '{spec.name}'. If you are attempting to use a custom field, "
            "be sure to append the '__c' after the custom field name.",
        )
    return found


def execute(
    query: Query, records: dict[str, dict[str, dict[str, Any]]]
) -> tuple[ObjectSpec, list[str], list[dict[str, Any]]]:
    """(object, selected field names, matching records) of `query` over `records` (object -> id -> record)."""
    spec = find_object(query.sobject)
    if spec is None:
        raise ApiError(400, "INVALID_TYPE", f"sObject type '{query.sobject}' is not supported.")
    selected = [_field(spec, name).name for name in query.fields]
    bound = [_bind(spec, condition) for condition in query.where]
    matched: list[dict[str, Any]] = []
    for record in records[spec.name].values():
        if query.limit is not None and len(matched) >= query.limit:
            break
        if all(_matches(_comparable(field, record.get(field.name)), op, values) for field, op, values in bound):
            matched.append(record)
    return spec, selected, matched
