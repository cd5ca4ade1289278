"""What the emulated org holds: records per sObject, OAuth sessions, query cursors; all writes go through here."""

from __future__ import annotations

import asyncio
import calendar
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox.salesforce import ids, pricebooks
from sandbox.salesforce.errors import ApiError, not_found
from sandbox.salesforce.outbound import OutboundMessenger
from sandbox.salesforce.schema import (
    ACCOUNT,
    CANCELLATION,
    CLOSED_WON,
    CONTRACT,
    CONTRACT_ACTIVATED,
    CONTRACT_DRAFT,
    CONTRACT_TERMINATED,
    DEFAULT_CURRENCY,
    OBJECTS,
    OPPORTUNITY,
    OPPORTUNITY_LINE_ITEM,
    PRICEBOOK,
    RENEWAL,
    FieldType,
    ObjectSpec,
    accept,
    find_object,
)
from sandbox.salesforce.webhooks import WATCHED_ACCOUNT_FIELDS, WebhookSender

Record = dict[str, Any]

VALIDATION_MESSAGE = "Add at least one product before closing the opportunity as won."
# What Salesforce answers when a contract is created outside the Draft category or leaves Activated.
CONTRACT_STATUS_MESSAGE = "Choose a valid contract status and save your changes. Ask your Salesforce admin for help."
CONTRACT_NUMBER_TICK_NS = 100_000_000
CONTRACT_NUMBER_EPOCH_NS = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000_000


class Org:
    """One org. Callers hold `lock` around every mutation so concurrent upserts cannot create duplicates."""

    def __init__(self, sender: WebhookSender, query_batch_size: int, outbound: OutboundMessenger | None = None) -> None:
        self.lock = asyncio.Lock()
        self.sender = sender
        self.outbound = outbound or OutboundMessenger(None, "", "", lambda: "")
        self.query_batch_size = query_batch_size
        self.records: dict[str, dict[str, Record]] = {spec.name: {} for spec in OBJECTS.values()}
        # access token -> when it times out (monotonic seconds; None: never). Salesforce ends a session after the
        # org's timeout (15 minutes to 24 hours) of inactivity; the emulator counts from the login.
        self.sessions: dict[str, float | None] = {}
        self.session_seconds: float | None = None
        self.sessions_issued = 0
        self.cursors: dict[str, list[Record]] = {}
        # Serial numbers follow the wall clock, so a restarted emulator never hands out an id an earlier process did
        # (c2c's store and histories keep them); they survive a reset, so an id is never reused within a process.
        self._serial = ids.serials()
        # Contract.ContractNumber is an auto-number field, display format {00000000}: at least 8 digits, at most 10
        # as in Salesforce. It never goes back either, and counts tenths of a second since 2024 (10 digits until
        # 2055), so a restarted emulator starts above the numbers of one stopped at least a tenth of a second ago.
        self._contract_numbers = ids.ClockSequence(CONTRACT_NUMBER_TICK_NS, CONTRACT_NUMBER_EPOCH_NS)
        # Likewise modstamps only ever grow, so "newer" is decidable by comparing them.
        self._last_stamp = datetime.min.replace(tzinfo=UTC)
        self._seed()

    def _seed(self) -> None:
        """What every org has before anyone writes: the standard price book."""
        book_id = self.next_id(PRICEBOOK.key_prefix)
        book = {field.name: None for field in PRICEBOOK.fields} | {"Id": book_id, "IsActive": True, "IsStandard": True}
        book["Name"] = pricebooks.STANDARD_PRICEBOOK_NAME
        self._stamp(book, creating=True)
        self.records[PRICEBOOK.name][book_id] = book

    def reset(self) -> None:
        """Empty the org (but for its standard price book) and revoke every session (connectors must log in again)."""
        for records in self.records.values():
            records.clear()
        self.sessions.clear()
        self.sessions_issued = 0
        self.cursors.clear()
        self.sender.reset()
        self.outbound.reset()
        self._seed()

    def open_session(self, token: str) -> None:
        timeout = self.session_seconds
        self.sessions[token] = None if timeout is None else time.monotonic() + timeout
        self.sessions_issued += 1

    def session_valid(self, token: str) -> bool:
        if token not in self.sessions:
            return False
        ends = self.sessions[token]
        return ends is None or time.monotonic() < ends

    def next_id(self, key_prefix: str) -> str:
        return ids.make_id(key_prefix, next(self._serial))

    def next_stamp(self) -> str:
        """A SystemModstamp later than every earlier one, even for saves within one millisecond."""
        now = datetime.now(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        self._last_stamp = max(now, self._last_stamp + timedelta(milliseconds=1))
        return format_datetime(self._last_stamp)

    def get(self, spec: ObjectSpec, record_id: str) -> Record:
        normalised = ids.normalise(record_id)
        record = self.records[spec.name].get(normalised) if normalised else None
        if record is None:
            raise not_found()
        return record

    def find_external(self, spec: ObjectSpec, field: str, value: str) -> Record | None:
        for record in self.records[spec.name].values():
            if record.get(field) == value:
                return record
        return None

    def external_field(self, spec: ObjectSpec, name: str) -> str:
        field = spec.field(name)
        if field is None or not field.external_id:
            raise ApiError(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {name}")
        return field.name

    def create(self, spec: ObjectSpec, body: Any) -> str:
        changes = self._changes(spec, body, creating=True)
        record_id = self.next_id(spec.key_prefix)
        self._save(spec, record_id, None, changes)
        return record_id

    def update(self, spec: ObjectSpec, record_id: str, body: Any) -> None:
        existing = self.get(spec, record_id)
        self._save(spec, existing["Id"], existing, self._changes(spec, body, creating=False))

    def upsert(self, spec: ObjectSpec, field: str, value: str, body: Any) -> tuple[str, bool]:
        """(record id, created) after an upsert keyed by external id `field` = `value`."""
        existing = self.find_external(spec, field, value)
        changes = self._changes(spec, body, creating=existing is None)
        changes[field] = value  # the value in the URL wins over one in the body
        if existing is None:
            record_id = self.next_id(spec.key_prefix)
            self._save(spec, record_id, None, changes)
            return record_id, True
        self._save(spec, existing["Id"], existing, changes)
        return existing["Id"], False

    def _exists(self, sobject: str, record_id: str) -> bool:
        return record_id in self.records[sobject]

    def _changes(self, spec: ObjectSpec, body: Any, *, creating: bool) -> Record:
        if not isinstance(body, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", f"Can not deserialize SObject {spec.name} from the request body")
        changes: Record = {}
        for key, value in body.items():
            if key == "attributes":
                continue
            field = spec.field(key)
            if field is None:
                raise ApiError(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {spec.name}")
            if not (field.createable if creating else field.updateable):
                raise ApiError(
                    400,
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {field.name}. Please check the security settings of this "
                    "field and verify that it is read/write for your profile or permission set.",
                    [field.name],
                )
            changes[field.name] = accept(field, value, self._exists)
        return changes

    def _save(self, spec: ObjectSpec, record_id: str, existing: Record | None, changes: Record) -> None:
        if existing is None:
            # Checkboxes are never null in Salesforce: unset they are false.
            existing = {f.name: False if f.type is FieldType.BOOLEAN else None for f in spec.fields} | {"Id": record_id}
            if spec is OPPORTUNITY:
                existing["CurrencyIsoCode"] = DEFAULT_CURRENCY
            if spec is CONTRACT:
                existing["Status"] = CONTRACT_DRAFT
        record = existing | changes
        missing = [name for name in spec.required if record.get(name) in (None, "")]
        if missing:
            raise ApiError(
                400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
            )
        pricebooks.check(self.records, spec, changes, record)
        if spec is OPPORTUNITY and existing.get("Pricebook2Id") not in (None, record.get("Pricebook2Id")):
            if any(line.get("PricebookEntryId") for line in self._lines_of(record_id)):
                raise ApiError(
                    400,
                    "FIELD_INTEGRITY_EXCEPTION",
                    "field integrity exception: unknown (cannot change pricebook on opportunity with line items)",
                    ["Pricebook2Id"],
                )
        key = record.get("External_Key__c")
        holder = self.find_external(spec, "External_Key__c", key) if key is not None else None
        if holder is not None and holder["Id"] != record_id:
            raise ApiError(
                400,
                "DUPLICATE_VALUE",
                f"duplicate value found: External_Key__c duplicates value on record with id: {holder['Id']}",
                ["External_Key__c"],
            )
        # The org's validation rule; a cancellation ends every line of its contract and a renewal renews them, so
        # neither needs lines of its own (a renewal's lines, if any, change quantities from its date).
        if (
            spec is OPPORTUNITY
            and record["StageName"] == CLOSED_WON
            and record.get("Type") not in (CANCELLATION, RENEWAL)
            and not self._lines_of(record_id)
        ):
            raise ApiError(400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", VALIDATION_MESSAGE, [])
        if spec is OPPORTUNITY_LINE_ITEM:
            if Decimal(record["Quantity"]) == 0:
                raise ApiError(
                    400,
                    "FIELD_INTEGRITY_EXCEPTION",
                    "field integrity exception: Quantity (quantity must be nonzero)",
                    ["Quantity"],
                )
            record["TotalPrice"] = record["Quantity"] * record["UnitPrice"]
        if spec is CONTRACT:
            _check_contract(existing, record)
            record["EndDate"] = _end_date(record["StartDate"], record["ContractTerm"])
            if record["ContractNumber"] is None:
                record["ContractNumber"] = f"{next(self._contract_numbers):08d}"
        became_won = record.get("StageName") == CLOSED_WON and existing.get("StageName") != CLOSED_WON
        changed = _account_changes(spec, existing, record)
        self._stamp(record, creating=existing.get("CreatedDate") is None)
        self.records[spec.name][record_id] = record
        if spec is OPPORTUNITY_LINE_ITEM:
            pricebooks.assign_pricebook(self.records, record)
            self._recompute_amount(record["OpportunityId"])
        if spec is OPPORTUNITY and became_won:
            # The org's closed-won automation: the outbound message when it is set up (replacing the callout flow).
            if self.outbound.url:
                self.outbound.closed_won(record)
            else:
                self.sender.closed_won(record_id)
        if changed:
            self.sender.account_changed(record_id, changed, record["SystemModstamp"])

    def _stamp(self, record: Record, *, creating: bool) -> None:
        # Salesforce touches the audit fields on every save, whether or not a value changed.
        stamp = self.next_stamp()
        record["LastModifiedDate"] = record["SystemModstamp"] = stamp
        if creating:
            record["CreatedDate"] = stamp

    def _lines_of(self, opportunity_id: str) -> list[Record]:
        lines = self.records[OPPORTUNITY_LINE_ITEM.name].values()
        return [line for line in lines if line["OpportunityId"] == opportunity_id]

    def _recompute_amount(self, opportunity_id: str) -> None:
        total: Decimal | int = sum((line["TotalPrice"] for line in self._lines_of(opportunity_id)), 0)
        opportunity = self.records[OPPORTUNITY.name][opportunity_id]
        opportunity["Amount"] = total
        # A roll-up is a system change: SystemModstamp moves, LastModifiedDate does not.
        opportunity["SystemModstamp"] = self.next_stamp()

    def page(self, rows: list[Record]) -> tuple[list[Record], str | None]:
        """The first batch of `rows` and a cursor for the rest (None when they fit in one batch)."""
        if len(rows) <= self.query_batch_size:
            return rows, None
        locator = self.next_id("01g")
        self.cursors[locator] = rows
        return rows[: self.query_batch_size], f"{locator}-{self.query_batch_size}"

    def next_page(self, cursor: str) -> tuple[list[Record], str | None, int]:
        """(batch, next cursor or None, total size) for a `<locator>-<offset>` cursor."""
        locator, _, offset_text = cursor.partition("-")
        rows = self.cursors.get(locator)
        if rows is None or not offset_text.isdigit() or int(offset_text) >= len(rows):
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        offset = int(offset_text)
        end = offset + self.query_batch_size
        if end >= len(rows):
            del self.cursors[locator]
            return rows[offset:], None, len(rows)
        return rows[offset:end], f"{locator}-{end}", len(rows)

    def dump(self) -> dict[str, Any]:
        """Everything the org holds, for `GET /_sandbox/state`."""
        state: dict[str, Any] = {name: list(records.values()) for name, records in self.records.items()}
        state["webhookDeliveries"] = list(self.sender.deliveries)
        state["outboundMessages"] = list(self.outbound.deliveries)
        state["sessionsIssued"] = self.sessions_issued
        return state


def format_datetime(value: datetime) -> str:
    """A datetime field as the REST API writes it: `2024-06-01T12:00:00.000+0000`."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def _account_changes(spec: ObjectSpec, before: Record, after: Record) -> list[str]:
    """The watched fields an update of an existing account changed; creating an account is no change."""
    if spec is not ACCOUNT or before.get("CreatedDate") is None:
        return []
    return [name for name in WATCHED_ACCOUNT_FIELDS if before.get(name) != after.get(name)]


def _check_contract(before: Record, after: Record) -> None:
    """A contract is created in Draft; once Activated it stays Activated or is Terminated, and a Terminated one
    stays so; its term is a whole number of months."""
    creating = before.get("CreatedDate") is None
    moves = (before.get("Status"), after["Status"])
    if (
        (creating and after["Status"] != CONTRACT_DRAFT)
        or (moves[0] == CONTRACT_ACTIVATED and moves[1] not in (CONTRACT_ACTIVATED, CONTRACT_TERMINATED))
        or (moves[0] == CONTRACT_TERMINATED and moves[1] != CONTRACT_TERMINATED)
        or (moves[1] == CONTRACT_TERMINATED and moves[0] not in (CONTRACT_ACTIVATED, CONTRACT_TERMINATED))
    ):
        raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION", CONTRACT_STATUS_MESSAGE, ["Status"])
    term = after.get("ContractTerm")
    if term is not None and (Decimal(term) != Decimal(term).to_integral_value() or Decimal(term) < 0):
        raise ApiError(
            400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of int from value {term} for field ContractTerm"
        )
    if term is not None:
        after["ContractTerm"] = int(term)


def _end_date(start: str | None, term: int | None) -> str | None:
    """Salesforce's computed EndDate: StartDate plus ContractTerm months (clamped to the month's end), less a day."""
    if start is None or term is None:
        return None
    first = date.fromisoformat(start)
    months = first.month - 1 + term
    year, month = first.year + months // 12, months % 12 + 1
    end = date(year, month, min(first.day, calendar.monthrange(year, month)[1]))
    return (end - timedelta(days=1)).isoformat()


def object_or_404(name: str) -> ObjectSpec:
    spec = find_object(name)
    if spec is None:
        raise not_found()
    return spec
