"""A SuiteQL subset over the emulator's records: `SELECT col, ... | * FROM transaction | customer [WHERE cond [AND
cond ...]] [ORDER BY col [ASC|DESC], ...]`, a condition being `col op literal` (op = != <> < <= > >=) or `col IN
(literal, ...)`; literals 'strings' and numbers; keywords and column names case-insensitive.

Columns are the analytics data source's (lower-case) names, not the REST record fields: transaction `id`, `tranid`,
`trandate`, `duedate`, `type` (CustInvc, CustPymt, CustCred, Journal), `entity`, `externalid`, `currency`,
`subsidiary`, `foreigntotal`, `foreignamountremaining`, `status` (an invoice's A open / B paid in full), `memo`,
`otherrefnum`, `createddate`, `lastmodifieddate`; customer `id`, `entityid`, `companyname`, `email`, `externalid`,
`subsidiary`, `currency`, `datecreated`, `lastmodifieddate`. As NetSuite answers them every value is text (dates
M/D/YYYY, references as the internal id), and a null value is left out of its row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.netsuite.state import Account, NetSuiteError, Record

# transaction type (SuiteQL) <- REST record type
TRANSACTION_TYPES = {
    "invoice": "CustInvc",
    "customerPayment": "CustPymt",
    "creditMemo": "CustCred",
    "journalEntry": "Journal",
}
INVOICE_STATUS = {"Open": "A", "Paid In Full": "B"}
_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?)|(?P<op><>|!=|<=|>=|=|<|>)|(?P<punct>[(),*])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)


def invalid(problem: str) -> NetSuiteError:
    return NetSuiteError(
        400,
        "INVALID_PARAMETER",
        f"Invalid search query. Detailed unprocessed description follows. Search error occurred: {problem}",
    )


def _ref(value: Any) -> Any:
    return value.get("id") if isinstance(value, dict) else value


def _day(value: Any) -> str | None:
    """A date as NetSuite's default date preference writes it: M/D/YYYY."""
    if not isinstance(value, str) or not value:
        return None
    day = date.fromisoformat(value[:10])
    return f"{day.month}/{day.day}/{day.year}"


def _transaction_row(record_type: str, record: Record) -> dict[str, Any]:
    total = record.get("total", record.get("payment"))
    status = INVOICE_STATUS.get(record.get("status") or "") if record_type == "invoice" else None
    return {
        "id": record["id"],
        "tranid": record.get("tranId"),
        "trandate": _day(record.get("tranDate")),
        "duedate": _day(record.get("dueDate")),
        "type": TRANSACTION_TYPES[record_type],
        "entity": _ref(record.get("entity") or record.get("customer")),
        "externalid": record.get("externalId"),
        "currency": _ref(record.get("currency")),
        "subsidiary": _ref(record.get("subsidiary")),
        "foreigntotal": total,
        "foreignamountremaining": record.get("amountRemaining"),
        "status": status,
        "memo": record.get("memo"),
        "otherrefnum": record.get("otherRefNum"),
        "createddate": record.get("createdDate"),
        "lastmodifieddate": record.get("lastModifiedDate"),
    }


def _customer_row(record: Record) -> dict[str, Any]:
    return {
        "id": record["id"],
        "entityid": record.get("entityId"),
        "companyname": record.get("companyName"),
        "email": record.get("email"),
        "externalid": record.get("externalId"),
        "subsidiary": _ref(record.get("subsidiary")),
        "currency": _ref(record.get("currency")),
        "datecreated": record.get("createdDate"),
        "lastmodifieddate": record.get("lastModifiedDate"),
    }


TABLES: dict[str, Callable[[Account], list[dict[str, Any]]]] = {
    "transaction": lambda account: [
        _transaction_row(record_type, record)
        for record_type in TRANSACTION_TYPES
        for record in account.records[record_type].values()
    ],
    "customer": lambda account: [_customer_row(record) for record in account.records["customer"].values()],
}
COLUMNS = {"transaction": list(_transaction_row("invoice", {"id": ""})), "customer": list(_customer_row({"id": ""}))}


class _Query:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position, text = 0, text.strip().rstrip(";")
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.lastgroup is None:
                raise invalid(f"unexpected text {text[position:].strip()[:20]!r}")
            self.tokens.append((match.lastgroup, match.group(match.lastgroup)))
            position = match.end()
        self.at = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "word" and token[1].upper() == word:
            self.at += 1
            return True
        return False

    def take(self, kind: str, text: str | None = None) -> str:
        token = self.peek()
        if token is None or token[0] != kind or (text is not None and token[1].upper() != text):
            raise invalid(f"expected {text or kind} at {token[1] if token else 'the end'!r}")
        self.at += 1
        return token[1]

    def column(self, table: str) -> str:
        name = self.take("word").lower()
        name = name.removeprefix(f"{table}.")
        if name not in COLUMNS[table]:
            raise invalid(f"Field '{name}' for record '{table}' was not found.")
        return name

    def literal(self) -> Any:
        token = self.peek()
        if token is None or token[0] not in ("string", "number"):
            raise invalid(f"expected a literal at {token[1] if token else 'the end'!r}")
        self.at += 1
        return token[1][1:-1].replace("''", "'") if token[0] == "string" else Decimal(token[1])


def _compare(stored: Any, op: str, wanted: Any) -> bool:
    if stored is None:
        return False
    if isinstance(wanted, Decimal):
        try:
            stored = Decimal(str(stored))
        except InvalidOperation:
            return False
    else:
        stored = str(stored)
    checks = {"=": stored == wanted, "!=": stored != wanted, "<>": stored != wanted}
    if op in checks:
        return checks[op]
    return {"<": stored < wanted, "<=": stored <= wanted, ">": stored > wanted, ">=": stored >= wanted}[op]


def _sort_key(value: Any) -> tuple[int, Any]:
    """Nulls last; numbers as numbers."""
    if value is None:
        return (2, "")
    try:
        return (0, Decimal(str(value)))
    except InvalidOperation:
        return (1, str(value))


def run(account: Account, text: str) -> list[dict[str, str]]:
    """Every row of a query, in order, each column as text (nulls left out)."""
    query = _Query(text)
    query.take("word", "SELECT")
    star = query.peek() == ("punct", "*")
    raw_columns: list[str] = []
    if star:
        query.take("punct")
    else:
        raw_columns.append(query.take("word"))
        while query.peek() == ("punct", ","):
            query.take("punct")
            raw_columns.append(query.take("word"))
    query.take("word", "FROM")
    table = query.take("word").lower()
    if table not in TABLES:
        raise invalid(f"Record '{table}' was not found.")
    columns = COLUMNS[table] if star else [_Query(name).column(table) for name in raw_columns]
    conditions: list[tuple[str, str, list[Any]]] = []  # (column, op, literals); IN matches any literal
    if query.keyword("WHERE"):
        while True:
            column = query.column(table)
            if query.keyword("IN"):
                query.take("punct", "(")
                values = [query.literal()]
                while query.peek() == ("punct", ","):
                    query.take("punct")
                    values.append(query.literal())
                query.take("punct", ")")
                conditions.append((column, "=", values))
            else:
                op, value = query.take("op"), query.literal()
                conditions.append((column, op, [value]))
            if not query.keyword("AND"):
                break
    order: list[tuple[str, bool]] = []
    if query.keyword("ORDER"):
        query.take("word", "BY")
        while True:
            column = query.column(table)
            descending = query.keyword("DESC")
            if not descending:
                query.keyword("ASC")
            order.append((column, descending))
            if query.peek() != ("punct", ","):
                break
            query.take("punct")
    trailing = query.peek()
    if trailing is not None:
        raise invalid(f"unexpected {trailing[1]!r}")
    rows = [
        row
        for row in TABLES[table](account)
        if all(any(_compare(row[column], op, value) for value in values) for column, op, values in conditions)
    ]
    for column, descending in reversed(order):  # stable sorts, last key first
        rows.sort(key=lambda row: _sort_key(row[column]), reverse=descending)  # noqa: B023 - used at once
    return [{name: _text(row[name]) for name in columns if row[name] is not None} for row in rows]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # a NUMBER column: no trailing zeros (100.50 -> "100.5")
    return str(value)
