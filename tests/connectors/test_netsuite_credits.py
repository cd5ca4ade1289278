"""NetSuiteErp and the NetSuite emulator on amendments: invoices with proration lines, billing's credit notes."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from canonical import (
    Address,
    CreditNote,
    Customer,
    Invoice,
    InvoiceAdjustment,
    InvoiceLine,
    Money,
    Payment,
    PaymentStatus,
)
from canonical.reference import LEGAL_ENTITIES
from connectors.errors import BusinessRuleError, PermanentError, UncertainOutcome
from connectors.netsuite import NetSuiteErp
from tests.support.netsuite import erp_connector, sandbox_state

RECORDS = "/services/rest/record/v1"
SEAT = Money(amount=49_00, currency="USD")


@pytest.fixture
def base_url(netsuite_url: str) -> str:
    return netsuite_url  # the emulator's, reset around each test (tests/connectors/conftest.py)


async def memos(http: httpx.AsyncClient, base_url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await sandbox_state(http, base_url))["creditMemo"]
    return found


async def arm(http: httpx.AsyncClient, base_url: str, **rule: Any) -> None:
    (await http.post(f"{base_url}/_sandbox/faults", json=rule)).raise_for_status()


async def close_before(http: httpx.AsyncClient, base_url: str, day: str) -> None:
    (await http.post(f"{base_url}/_sandbox/periods/close", json={"before": day})).raise_for_status()


async def customer_in(erp: NetSuiteErp) -> str:
    customer = Customer(
        golden_id=f"gc_{uuid.uuid4().hex[:10]}",
        legal_name="Acme Corp",
        email="ap@acme.example",
        address=Address(line1="1 Main St", city="Austin", region="TX", postal_code="78701", country="US"),
    )
    return await erp.upsert_customer(customer, LEGAL_ENTITIES["US01"], "USD")


def usd(minor: int) -> Money:
    return Money(amount=minor, currency="USD")


def proration(amount: int, quantity: int = 2, code: str = "PLAT-SEAT") -> InvoiceAdjustment:
    return InvoiceAdjustment(
        product_code=code,
        description="Unused time on 2 × Platform seat" if amount < 0 else "Remaining time on Platform seat",
        quantity=quantity,
        amount=usd(amount),
        period_start=date(2025, 3, 15),
        period_end=date(2025, 4, 1),
    )


def make_invoice(
    adjustments: list[InvoiceAdjustment] | None = None, tax: int = 8_58, issue_date: date = date(2025, 3, 1)
) -> Invoice:
    return Invoice(
        golden_customer_id="gc_1",
        legal_entity="US01",
        currency="USD",
        issue_date=issue_date,
        due_date=date(2025, 3, 31),
        lines=[
            InvoiceLine(
                product_code="PLAT-SEAT",
                description="Platform seat",
                quantity=2,
                unit_amount=SEAT,
                amount=SEAT.times(2),
            )
        ],
        adjustments=adjustments or [],
        tax=usd(tax),
        tax_document_code="doc-1",
        number="INV-0042",
        external_refs={"stripe": f"in_{uuid.uuid4().hex[:12]}"},
    )


def make_credit(
    invoice: Invoice, amount: int = 30_00, tax: int = 2_48, issue_date: date = date(2025, 3, 20)
) -> CreditNote:
    return CreditNote(
        golden_customer_id=invoice.golden_customer_id,
        legal_entity=invoice.legal_entity,
        currency=invoice.currency,
        issue_date=issue_date,
        invoice_id=invoice.external_refs["stripe"],
        reason="cancellation",
        lines=[
            InvoiceAdjustment(
                product_code="PLAT-SEAT",
                description="Unused time on 2 × Platform seat",
                quantity=2,
                amount=usd(amount),
                period_start=date(2025, 3, 20),
                period_end=date(2025, 4, 1),
            )
        ],
        tax=usd(tax),
        external_refs={"stripe": f"cn_{uuid.uuid4().hex[:12]}"},
    )


async def posted(erp: NetSuiteErp, invoice: Invoice | None = None) -> tuple[Invoice, str, str]:
    """(invoice, its ERP id, the customer's ERP id): an invoice posted first, as the saga does."""
    invoice = invoice or make_invoice()
    customer_id = await customer_in(erp)
    return invoice, await erp.post_invoice(invoice, customer_id), customer_id


def money(value: Any) -> Money:
    return Money.from_decimal(Decimal(str(value)), "USD")


# ---- invoices with proration lines ------------------------------------------------------------------------


async def test_invoice_with_prorations_posts_them_after_its_lines_for_the_billing_total(erp: NetSuiteErp) -> None:
    invoice = make_invoice([proration(-20_13), proration(9_99, quantity=1, code="ANALYTICS")], tax=7_82)
    _, invoice_id, _ = await posted(erp, invoice)

    record = await erp.get_record("invoice", invoice_id)

    assert money(record["total"]) == invoice.total == usd(98_00 - 20_13 + 9_99 + 7_82)
    assert money(record["amountRemaining"]) == invoice.total
    seats, credit, charge, tax = record["item"]["items"]
    assert (seats["item"]["refName"], money(seats["amount"])) == ("PLAT-SEAT", SEAT.times(2))
    assert (credit["item"]["refName"], credit["quantity"], money(credit["amount"])) == ("PLAT-SEAT", 1, usd(-20_13))
    assert "2 x PLAT-SEAT, 2025-03-15 to 2025-04-01" in credit["description"]
    assert (charge["item"]["refName"], money(charge["amount"])) == ("ANALYTICS", usd(9_99))
    assert (tax["item"]["refName"], money(tax["amount"])) == ("TAX", usd(7_82))


async def test_invoice_reconciles_to_the_billing_total_with_its_prorations(erp: NetSuiteErp) -> None:
    invoice = make_invoice([proration(-40_00)])
    _, invoice_id, _ = await posted(erp, invoice)

    [read] = [i for i in await erp.invoices_modified_since(date(2000, 1, 1)) if i.internal_id == invoice_id]

    assert (read.total, read.amount_remaining) == (invoice.total.amount, invoice.total.amount)


async def test_an_invoice_whose_credits_exceed_its_charges_is_refused_as_netsuite_does(
    erp: NetSuiteErp, http: httpx.AsyncClient, base_url: str
) -> None:
    customer_id = await customer_in(erp)
    invoice = make_invoice([proration(-120_00)], tax=0)

    with pytest.raises(BusinessRuleError) as caught:
        await erp.post_invoice(invoice, customer_id)

    assert (caught.value.code, caught.value.message) == ("USER_ERROR", "The total cannot be negative.")
    assert (await sandbox_state(http, base_url))["invoice"] == []


async def test_full_reversal_of_an_invoice_with_prorations_credits_its_whole_total(erp: NetSuiteErp) -> None:
    invoice, invoice_id, customer_id = await posted(erp, make_invoice([proration(-20_13)]))

    memo = await erp.get_record("creditMemo", await erp.post_credit_memo(invoice, invoice_id, customer_id))

    assert (money(memo["total"]), memo["status"]) == (invoice.total, "Fully Applied")
    assert (await erp.get_record("invoice", invoice_id))["status"] == "Paid In Full"


# ---- billing's credit notes -------------------------------------------------------------------------------


async def test_partial_credit_note_on_an_open_invoice_is_applied_to_what_it_has_due(erp: NetSuiteErp) -> None:
    invoice, invoice_id, customer_id = await posted(erp)
    credit = make_credit(invoice)

    memo_id = await erp.post_credit_note(credit, invoice_id, customer_id)

    memo = await erp.get_record("creditMemo", memo_id)
    assert memo["externalId"] == credit.external_refs["stripe"]
    assert (memo["createdFrom"]["id"], memo["tranDate"], memo["status"]) == (invoice_id, "2025-03-20", "Fully Applied")
    assert money(memo["total"]) == credit.total == usd(32_48)
    assert (money(memo["applied"]), memo["unapplied"]) == (credit.total, 0)
    line, tax = memo["item"]["items"]
    assert (line["item"]["refName"], money(line["amount"])) == ("PLAT-SEAT", usd(30_00))
    assert (tax["item"]["refName"], money(tax["amount"])) == ("TAX", usd(2_48))
    after = await erp.get_record("invoice", invoice_id)
    assert money(after["amountRemaining"]) == invoice.total - credit.total
    assert after["status"] == "Open"


async def test_credit_note_on_a_paid_invoice_stays_unapplied(erp: NetSuiteErp) -> None:
    invoice, invoice_id, customer_id = await posted(erp)
    payment = Payment(
        invoice_id=invoice.external_refs["stripe"],
        amount=invoice.total,
        fee=usd(3_20),
        status=PaymentStatus.SUCCEEDED,
        external_refs={"stripe": f"py_{uuid.uuid4().hex[:12]}"},
    )
    await erp.apply_payment(payment, customer_id, invoice_id)
    credit = make_credit(invoice)

    memo = await erp.get_record("creditMemo", await erp.post_credit_note(credit, invoice_id, customer_id))

    assert (memo["status"], memo["applied"], money(memo["unapplied"])) == ("Open", 0, credit.total)
    assert memo["apply"]["items"] == []
    after = await erp.get_record("invoice", invoice_id)
    assert (after["status"], after["amountRemaining"]) == ("Paid In Full", 0)


async def test_credit_note_for_more_than_is_due_applies_what_is_due_and_keeps_the_rest(erp: NetSuiteErp) -> None:
    invoice, invoice_id, customer_id = await posted(erp)
    payment = Payment(
        invoice_id=invoice.external_refs["stripe"],
        amount=usd(80_00),
        fee=usd(3_20),
        status=PaymentStatus.SUCCEEDED,
        external_refs={"stripe": f"py_{uuid.uuid4().hex[:12]}"},
    )
    await erp.apply_payment(payment, customer_id, invoice_id)
    due = invoice.total - usd(80_00)
    credit = make_credit(invoice)  # 32.48 against 26.58 due

    memo = await erp.get_record("creditMemo", await erp.post_credit_note(credit, invoice_id, customer_id))

    assert (memo["status"], money(memo["applied"]), money(memo["unapplied"])) == ("Open", due, credit.total - due)
    after = await erp.get_record("invoice", invoice_id)
    assert (after["status"], after["amountRemaining"]) == ("Paid In Full", 0)


async def test_posting_a_credit_note_twice_keeps_one_memo(
    erp: NetSuiteErp, http: httpx.AsyncClient, base_url: str
) -> None:
    invoice, invoice_id, customer_id = await posted(erp)
    credit = make_credit(invoice)

    first = await erp.post_credit_note(credit, invoice_id, customer_id)
    second = await erp.post_credit_note(credit, invoice_id, customer_id)

    assert first == second
    [memo] = await memos(http, base_url)
    assert (memo["id"], memo["status"]) == (first, "Fully Applied")
    after = await erp.get_record("invoice", invoice_id)
    assert money(after["amountRemaining"]) == invoice.total - credit.total


@pytest.mark.parametrize("period_closes_meanwhile", [False, True], ids=["period-open", "period-closed-before-retry"])
async def test_lost_answer_then_retry_keeps_one_memo(
    http: httpx.AsyncClient, base_url: str, period_closes_meanwhile: bool
) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.3)) as impatient:
        erp = erp_connector(impatient, base_url)
        invoice, invoice_id, customer_id = await posted(erp)
        credit = make_credit(invoice)
        await arm(http, base_url, method="PUT", path_prefix=f"{RECORDS}/creditMemo", kind="delay_after", seconds=1.0)

        with pytest.raises(UncertainOutcome):
            await erp.post_credit_note(credit, invoice_id, customer_id)
        if period_closes_meanwhile:
            await close_before(http, base_url, "2025-04-01")
        retried = await erp.post_credit_note(credit, invoice_id, customer_id)

    [memo] = await memos(http, base_url)
    assert (memo["id"], memo["tranDate"], money(memo["total"])) == (retried, "2025-03-20", credit.total)


async def test_credit_note_on_an_invoice_the_erp_does_not_hold_is_permanent_and_writes_nothing(
    erp: NetSuiteErp, http: httpx.AsyncClient, base_url: str
) -> None:
    customer_id = await customer_in(erp)

    with pytest.raises(PermanentError) as caught:
        await erp.post_credit_note(make_credit(make_invoice()), "999999", customer_id)

    assert caught.value.code == "invoice_not_found"
    assert await memos(http, base_url) == []


async def test_credit_note_on_another_invoice_is_permanent_and_writes_nothing(
    erp: NetSuiteErp, http: httpx.AsyncClient, base_url: str
) -> None:
    _, invoice_id, customer_id = await posted(erp)

    with pytest.raises(PermanentError) as caught:
        await erp.post_credit_note(make_credit(make_invoice()), invoice_id, customer_id)

    assert caught.value.code == "invoice_mismatch"
    assert await memos(http, base_url) == []


async def test_credit_note_in_another_currency_than_its_invoice_is_permanent_and_writes_nothing(
    erp: NetSuiteErp, http: httpx.AsyncClient, base_url: str
) -> None:
    invoice, invoice_id, customer_id = await posted(erp)
    usd_credit = make_credit(invoice)
    credit = usd_credit.model_copy(
        update={
            "currency": "JPY",
            "tax": Money(amount=248, currency="JPY"),
            "lines": [
                line.model_copy(update={"amount": Money(amount=3000, currency="JPY")}) for line in usd_credit.lines
            ],
        }
    )

    with pytest.raises(PermanentError) as caught:
        await erp.post_credit_note(credit, invoice_id, customer_id)

    assert caught.value.code == "currency_mismatch"
    assert caught.value.message.endswith("is in JPY, invoice " + invoice_id + " in USD")
    assert await memos(http, base_url) == []


async def test_credit_note_without_a_billing_id_is_refused_before_sending(erp: NetSuiteErp) -> None:
    invoice = make_invoice()
    credit = make_credit(invoice).model_copy(update={"external_refs": {}})

    with pytest.raises(PermanentError) as caught:
        await erp.post_credit_note(credit, "1", "1")

    assert caught.value.code == "missing_credit_note_id"


@pytest.mark.parametrize(
    ("closed_before", "memo_date"),
    [("2025-04-01", "2025-04-01"), ("2025-05-15", "2025-06-01")],
    ids=["month-closed", "closed-mid-month"],
)
async def test_credit_note_in_a_closed_period_lands_on_the_first_open_month(
    erp: NetSuiteErp, http: httpx.AsyncClient, base_url: str, closed_before: str, memo_date: str
) -> None:
    invoice, invoice_id, customer_id = await posted(erp)
    credit = make_credit(invoice)
    await close_before(http, base_url, closed_before)

    memo_id = await erp.post_credit_note(credit, invoice_id, customer_id)

    assert await erp.post_credit_note(credit, invoice_id, customer_id) == memo_id
    [memo] = await memos(http, base_url)
    assert (memo["id"], memo["tranDate"], memo["status"]) == (memo_id, memo_date, "Fully Applied")
    after = await erp.get_record("invoice", invoice_id)
    assert money(after["amountRemaining"]) == invoice.total - credit.total


async def test_credit_note_without_tax_has_no_tax_line(erp: NetSuiteErp) -> None:
    invoice, invoice_id, customer_id = await posted(erp)

    memo = await erp.get_record(
        "creditMemo", await erp.post_credit_note(make_credit(invoice, tax=0), invoice_id, customer_id)
    )

    assert [line["item"]["refName"] for line in memo["item"]["items"]] == ["PLAT-SEAT"]


async def test_credit_memos_are_read_back_for_reconciliation(erp: NetSuiteErp) -> None:
    invoice, invoice_id, customer_id = await posted(erp)
    credit = make_credit(invoice)
    memo_id = await erp.post_credit_note(credit, invoice_id, customer_id)
    reversal_id = await erp.post_credit_memo(invoice, invoice_id, customer_id)

    read = {m.internal_id: m for m in await erp.credit_memos_modified_since(date(2000, 1, 1))}

    assert set(read) == {memo_id, reversal_id}
    memo = read[memo_id]
    assert (memo.external_id, memo.created_from, memo.currency, memo.total) == (
        credit.external_refs["stripe"],
        invoice_id,
        "USD",
        credit.total.amount,
    )
    assert read[reversal_id].external_id == "cm-" + invoice.external_refs["stripe"]
