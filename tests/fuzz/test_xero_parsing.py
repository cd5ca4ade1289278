"""Fuzzing every Xero answer c2c parses: the token, each write's lookup and answer (contact, invoice, payment,
manual journal, credit note and its allocation, refund), the reconciler's reads and revenue recognition's (the
deferred revenue ledger and the recognition journal read back). A real exchange with the Xero
emulator is recorded once and replayed with one value of one answer removed or replaced; the connector returns
normally or raises its taxonomy (or a ValueError) naming the field, never KeyError, TypeError or AttributeError.
The wire helpers that read Xero's dates, envelopes and errors get arbitrary JSON."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from canonical import InvoiceLine, JournalEntry, JournalLine, Money, Payment, PaymentStatus
from canonical.reference import REVENUE_ACCOUNTS
from canonical.refunds import CustomerRefund
from canonical.revenue import recognition_entry
from connectors.errors import ConnectorError
from connectors.xero import XeroErp, wire
from connectors.xero import revenue as xero_revenue
from sandbox.xero.app import create_app
from tests.support.fuzzing import fuzzing
from tests.support.replay import Operation, mutations, not_keys, survives
from tests.support.servers import serve_in_thread
from tests.support.xero import ENTITY, uk_customer, uk_invoice, xero_connector

WRITES = ["xero.upsert_customer", "xero.post_invoice", "xero.apply_payment", "xero.post_journal_entry"]
CREDITS = ["xero.post_credit_memo", "xero.refund_customer", "xero.erp_invoice_of"]
READS = [
    "xero.invoices_modified_since",
    "xero.payments_modified_since",
    "xero.credit_memos_modified_since",
    "xero.customers_by_external_id",
    "xero.customer_refunds_modified_since",
]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
async def recorded(emulators: Any) -> dict[str, Operation]:
    url = emulators.url("xero")
    tag = uuid.uuid4().hex[:8]
    since = datetime.now(UTC) - timedelta(seconds=1)
    customer, invoice = uk_customer(), uk_invoice(f"in_fzx{tag}")
    refunded = uk_invoice(f"in_fzr{tag}")
    payment = Payment(
        invoice_id=invoice.external_refs["stripe"],
        amount=Money.from_decimal("706.80", "GBP"),
        status=PaymentStatus.SUCCEEDED,
        external_refs={"stripe": f"py_fz{tag}"},
    )
    fee = JournalEntry(
        external_id=f"fee-fz{tag}",
        legal_entity="UK01",
        date=date(2025, 3, 2),
        memo="processor fee",
        lines=[
            JournalLine(account="6150", debit=Money(amount=2_35, currency="GBP")),
            JournalLine(account="1050", credit=Money(amount=2_35, currency="GBP")),
        ],
    )
    async with httpx.AsyncClient(timeout=10) as http:
        erp = xero_connector(http, url)
        contact = await erp.upsert_customer(customer, ENTITY, "GBP")
        invoice_id = await erp.post_invoice(invoice, contact)
        await erp.apply_payment(payment, contact, invoice_id, legal_entity="UK01")
        await erp.post_journal_entry(fee)
        refunded_id = await erp.post_invoice(refunded, contact)
        # Paid, then credited: the credit note stays unallocated, for the refund to pay out.
        paid = payment.model_copy(update={"external_refs": {"stripe": f"py_fzr{tag}"}})
        await erp.apply_payment(paid, contact, refunded_id, legal_entity="UK01")
        open_id = await erp.post_invoice(uk_invoice(f"in_fzo{tag}"), contact)
        memo = await erp.post_credit_memo(refunded, refunded_id, contact)
    refund = CustomerRefund(
        refund_id=f"re_fz{tag}",
        customer_erp_id=contact,
        credit_memo_erp_id=memo,
        amount=Money(amount=10_00, currency="GBP"),
        on=date(2025, 3, 5),
        memo="fuzz refund",
    )

    def xe(http: httpx.AsyncClient) -> XeroErp:
        return xero_connector(http, url)

    operations = [
        Operation("xero.upsert_customer", lambda h: xe(h).upsert_customer(customer, ENTITY, "GBP")),
        Operation("xero.post_invoice", lambda h: xe(h).post_invoice(uk_invoice(f"in_fzn{tag}"), contact)),
        Operation(
            "xero.apply_payment",
            lambda h: xe(h).apply_payment(
                payment.model_copy(
                    update={"external_refs": {"stripe": f"py_fzn{tag}"}, "amount": Money(amount=1_00, currency="GBP")}
                ),
                contact,
                open_id,
                legal_entity="UK01",
            ),
        ),
        Operation(
            "xero.post_journal_entry",
            lambda h: xe(h).post_journal_entry(fee.model_copy(update={"external_id": f"fee-fzn{tag}"})),
        ),
        Operation("xero.post_credit_memo", lambda h: xe(h).post_credit_memo(refunded, refunded_id, contact)),
        Operation("xero.refund_customer", lambda h: xe(h).refund_customer(refund, "UK01")),
        Operation("xero.erp_invoice_of", lambda h: xe(h).erp_invoice_of(invoice.external_refs["stripe"], "UK01")),
        Operation("xero.invoices_modified_since", lambda h: xe(h).invoices_modified_since(since.date())),
        Operation("xero.payments_modified_since", lambda h: xe(h).payments_modified_since(since.date())),
        Operation("xero.credit_memos_modified_since", lambda h: xe(h).credit_memos_modified_since(since.date())),
        Operation(
            "xero.customers_by_external_id", lambda h: xe(h).customers_by_external_id([f"{customer.golden_id}-UK01"])
        ),
        Operation(
            "xero.customer_refunds_modified_since", lambda h: xe(h).customer_refunds_modified_since(since.date())
        ),
    ]
    for operation in operations:
        await operation.record()
    return {operation.name: operation for operation in operations}


@pytest.fixture(scope="module")
async def ledger_recorded() -> dict[str, Operation]:
    """The ledger and recognition reads of an organisation of their own (a private emulator: the ledger is the
    whole organisation's, and its recognition journal must not reach other tests' books): an invoice with a
    deferred line and a one-off line, its credit memo, a recognition journal and a fee journal."""
    running = serve_in_thread(create_app())
    url = running.url
    customer = uk_customer()
    seat = InvoiceLine(
        product_code="PLAT-SEAT",
        description="Platform seat (annual)",
        quantity=1,
        unit_amount=Money(amount=1200_00, currency="GBP"),
        amount=Money(amount=1200_00, currency="GBP"),
        period_start=date(2025, 1, 1),
        period_end=date(2026, 1, 1),
    )
    invoice = uk_invoice("in_fzl").model_copy(update={"lines": [seat, *uk_invoice().lines[1:]]})
    entry = recognition_entry("UK01", "2025-03", Money(amount=101_92, currency="GBP"), REVENUE_ACCOUNTS["UK01"])
    fee = JournalEntry(
        external_id="fee-fzl",
        legal_entity="UK01",
        date=date(2025, 3, 2),
        lines=[
            JournalLine(account="6150", debit=Money(amount=2_35, currency="GBP")),
            JournalLine(account="1050", credit=Money(amount=2_35, currency="GBP")),
        ],
    )
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            erp = xero_connector(http, url)
            contact = await erp.upsert_customer(customer, ENTITY, "GBP")
            invoice_id = await erp.post_invoice(invoice, contact)
            await erp.post_credit_memo(invoice, invoice_id, contact)
            await erp.post_journal_entry(entry)
            await erp.post_journal_entry(fee)
        operations = [
            Operation("xero.revenue_ledger", lambda h: xero_connector(h, url).revenue_ledger("UK01")),
            Operation("xero.recognition", lambda h: xero_connector(h, url).recognition("UK01", entry.external_id)),
        ]
        for operation in operations:
            await operation.record()
    finally:
        running.stop()
    return {operation.name: operation for operation in operations}


@given(data=st.data())
@fuzzing(150)
async def test_xero_revenue_reads_with_broken_fields_are_refused_naming_the_field(
    ledger_recorded: dict[str, Operation], data: st.DataObject
) -> None:
    """The deferred revenue ledger (invoices, credit notes and manual journals, paged) and the recognition journal
    read before posting, likewise."""
    op = data.draw(st.sampled_from(list(ledger_recorded.values())))
    mutation = data.draw(
        mutations(op, keep=not_keys("Id", "ProviderName", "DateTimeUTC"), answers=outside_login, root=True)
    )
    await survives(op, mutation)


JOURNAL_FIELDS = ["ManualJournalID", "Narration", "Status", "Date", "JournalLines", "AccountCode", "LineAmount"]
RECORD = st.dictionaries(st.sampled_from(JOURNAL_FIELDS + ["InvoiceNumber", "CurrencyCode", "LineItems"]), JSON)
READER_TEXT = st.sampled_from(
    ["[rev-UK01-GBP-2025-03] memo", "[rev-UK01-GBP-2025-3] x", "[rev-UK01-EUR-2025-03]", "[", "POSTED", "AUTHORISED",
     "2400", "GBP", "/Date(1743379200000+0000)/", "Seat (2025-01-01 to 2026-01-01)", "Seat (2025-02-30 to 2026-01-01)"]
)  # fmt: skip
LINE = st.fixed_dictionaries(
    {"AccountCode": st.just("2400") | READER_TEXT},
    optional={"LineAmount": JSON | st.decimals(allow_nan=False, places=3), "Description": READER_TEXT | JSON},
)
DOCUMENT = st.fixed_dictionaries(
    {"Status": st.sampled_from(["POSTED", "AUTHORISED", "PAID", "DRAFT"]) | JSON},
    optional={
        "ManualJournalID": READER_TEXT | JSON,
        "InvoiceNumber": READER_TEXT | JSON,
        "Narration": READER_TEXT | JSON,
        "CurrencyCode": READER_TEXT | JSON,
        "Date": READER_TEXT | JSON,
        "JournalLines": st.lists(LINE, max_size=3) | JSON,
        "LineItems": st.lists(LINE, max_size=3) | JSON,
    },
)


@given(record=DOCUMENT | RECORD)
@fuzzing(300)
def test_xero_journal_and_deferred_line_readers_take_any_record(record: dict[str, Any]) -> None:
    """A manual journal, invoice or credit note of any shape: a ledger, a recognition or None, or the connector's
    PermanentError (ValueError for a line the canonical model refuses), never another exception."""
    for read in (
        lambda: xero_revenue.recognition(record, "UK01", "GBP"),
        lambda: xero_revenue.deferred_lines(record, "UK01", 1, "InvoiceNumber"),
        lambda: xero_revenue.ledger("UK01", "GBP", [record], [record], [record]),
    ):
        try:
            read()
        except (ConnectorError, ValueError):
            pass


def outside_login(answer: Any) -> bool:
    return "token" not in answer.path


@given(data=st.data())
@fuzzing(150)
async def test_xero_write_answers_with_broken_fields_are_refused_naming_the_field(
    recorded: dict[str, Operation], data: st.DataObject
) -> None:
    """Each write's lookup and its answer (token included), with a field removed or of another type, or a whole
    body replaced."""
    op = data.draw(st.sampled_from([recorded[name] for name in WRITES + CREDITS]))
    mutation = data.draw(mutations(op, keep=not_keys("Id", "ProviderName", "DateTimeUTC"), root=True))
    await survives(op, mutation)


@given(data=st.data())
@fuzzing(150)
async def test_xero_reads_with_broken_fields_are_refused_naming_the_field(
    recorded: dict[str, Operation], data: st.DataObject
) -> None:
    """The reconciler's paged collections and records, likewise."""
    op = data.draw(st.sampled_from([recorded[name] for name in READS]))
    mutation = data.draw(
        mutations(op, keep=not_keys("Id", "ProviderName", "DateTimeUTC"), answers=outside_login, root=True)
    )
    await survives(op, mutation)


@given(value=JSON)
@fuzzing(200)
def test_xero_wire_readers_take_any_json_without_crashing(value: Any) -> None:
    """Dates, envelopes, error bodies and the token answer: a value or ValueError, never another exception."""
    assert wire.parse_xero_date(value) is None or isinstance(wire.parse_xero_date(value), date)
    assert wire.parse_xero_datetime(value) is None or isinstance(wire.parse_xero_datetime(value), datetime)
    code, message = wire.error_code_and_message(value)
    assert code is None or isinstance(code, str)
    assert message is None or isinstance(message, str)
    for reader in (lambda: wire.records(value, "Invoices"), lambda: wire.token_answer(value)):
        try:
            reader()
        except (ValueError, ConnectorError):
            pass


@given(text=st.text(max_size=40) | st.from_regex(r"/Date\(-?\d{1,16}([+-]\d{4})?\)/", fullmatch=True))
@fuzzing(200)
def test_xero_dates_in_any_form_are_read_or_refused(text: str) -> None:
    """Xero's `/Date(ms+zzzz)/` with any number (huge ones included) and any other text."""
    parsed = wire.parse_xero_datetime(text)
    assert parsed is None or parsed.tzinfo is not None
