"""NetSuiteErp against the NetSuite emulator over real HTTP."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from canonical import (
    Address,
    Customer,
    Invoice,
    InvoiceLine,
    JournalEntry,
    JournalLine,
    Money,
    Payment,
    PaymentStatus,
    ids,
)
from canonical.reference import LEGAL_ENTITIES
from connectors.errors import BusinessRuleError, PermanentError, TransientError, UncertainOutcome
from connectors.netsuite import M2MCredentials, NetSuiteErp
from connectors.netsuite.client import first_of_month
from connectors.netsuite.mapping import CASH_ACCOUNT, MERCHANT_FEES_ACCOUNT
from tests.support.netsuite import CREDENTIALS, erp_connector, sandbox_state

RECORDS = "/services/rest/record/v1"
TOKEN = "/services/rest/auth/oauth2/v1/token"
SEAT_PRICE = {"USD": 49_00, "EUR": 45_00, "JPY": 7_200}


@pytest.fixture
def base_url(netsuite_url: str) -> str:
    return netsuite_url  # the emulator's, reset around each test (tests/connectors/conftest.py)


async def records_with(http: httpx.AsyncClient, base_url: str, record_type: str, external_id: str) -> list[Any]:
    state = await sandbox_state(http, base_url)
    return [r for r in state[record_type] if r["externalId"] == external_id]


async def arm(http: httpx.AsyncClient, base_url: str, **rule: Any) -> None:
    response = await http.post(f"{base_url}/_sandbox/faults", json=rule)
    response.raise_for_status()


def make_customer(name: str = "Acme Corp") -> Customer:
    return Customer(
        golden_id=f"gc_{uuid.uuid4().hex[:10]}",
        legal_name=name,
        email="ap@acme.example",
        address=Address(line1="1 Main St", city="Austin", region="TX", postal_code="78701", country="US"),
    )


def make_invoice(
    currency: str = "USD", entity: str = "US01", issue_date: date = date(2025, 3, 1), tax: int = 8_58
) -> Invoice:
    unit = Money(amount=SEAT_PRICE[currency], currency=currency)
    return Invoice(
        golden_customer_id="gc_1",
        legal_entity=entity,
        currency=currency,
        issue_date=issue_date,
        due_date=date(2025, 3, 31),
        lines=[
            InvoiceLine(
                product_code="PLAT-SEAT",
                description="Platform seat",
                quantity=2,
                unit_amount=unit,
                amount=unit.times(2),
            )
        ],
        tax=Money(amount=tax, currency=currency),
        tax_document_code="doc-1",
        number="INV-0042",
        external_refs={"stripe": f"in_{uuid.uuid4().hex[:12]}"},
    )


def make_payment(invoice: Invoice, amount: Money | None = None) -> Payment:
    return Payment(
        invoice_id=invoice.external_refs["stripe"],
        amount=amount or invoice.total,
        fee=Money(amount=3_20, currency=invoice.currency),
        status=PaymentStatus.SUCCEEDED,
        external_refs={"stripe": f"py_{uuid.uuid4().hex[:12]}"},
    )


async def customer_in(erp: NetSuiteErp, entity: str = "US01", currency: str = "USD") -> str:
    return await erp.upsert_customer(make_customer(), LEGAL_ENTITIES[entity], currency)


async def test_upsert_customer_twice_keeps_one_record_and_applies_the_change(
    erp: NetSuiteErp, http: httpx.AsyncClient, base_url: str
) -> None:
    customer = make_customer()
    first = await erp.upsert_customer(customer, LEGAL_ENTITIES["US01"], "USD")
    renamed = customer.model_copy(update={"legal_name": "Acme Corporation"})
    second = await erp.upsert_customer(renamed, LEGAL_ENTITIES["US01"], "USD")

    assert first == second
    [record] = await records_with(http, base_url, "customer", ids.erp_customer_id(customer.golden_id or "", "US01"))
    assert record["id"] == first
    assert record["companyName"] == "Acme Corporation"
    assert record["subsidiary"]["id"] == "1"
    assert record["defaultAddress"] == "1 Main St\nAustin TX 78701\nUS"


@pytest.mark.parametrize(
    ("entity", "currency", "subsidiary_id", "currency_id"),
    [("US01", "USD", "1", "1"), ("US01", "JPY", "1", "6"), ("DE01", "EUR", "2", "4")],
)
async def test_post_invoice_books_on_the_entitys_subsidiary_in_the_invoice_currency(
    erp: NetSuiteErp, entity: str, currency: str, subsidiary_id: str, currency_id: str
) -> None:
    customer_id = await customer_in(erp, entity, currency)
    invoice = make_invoice(currency, entity)

    invoice_id = await erp.post_invoice(invoice, customer_id)

    record = await erp.get_record("invoice", invoice_id)
    assert record["externalId"] == invoice.external_refs["stripe"]
    assert (record["subsidiary"]["id"], record["currency"]["id"]) == (subsidiary_id, currency_id)
    assert record["entity"]["id"] == customer_id
    assert record["otherRefNum"] == "INV-0042"
    assert Money.from_decimal(record["total"], currency) == invoice.total
    assert Money.from_decimal(record["amountRemaining"], currency) == invoice.total
    assert record["status"] == "Open"
    seat, tax = record["item"]["items"]
    assert (seat["item"]["refName"], seat["quantity"]) == ("PLAT-SEAT", 2)
    assert Money.from_decimal(seat["rate"], currency) == invoice.lines[0].unit_amount
    assert (tax["item"]["refName"], Money.from_decimal(tax["amount"], currency)) == ("TAX", invoice.tax)


async def test_invoice_without_tax_has_no_tax_line(erp: NetSuiteErp) -> None:
    invoice_id = await erp.post_invoice(make_invoice(tax=0), await customer_in(erp))

    record = await erp.get_record("invoice", invoice_id)
    assert [line["item"]["refName"] for line in record["item"]["items"]] == ["PLAT-SEAT"]


async def test_apply_payment_marks_the_invoice_paid_in_full(erp: NetSuiteErp) -> None:
    customer_id = await customer_in(erp)
    invoice = make_invoice()
    invoice_id = await erp.post_invoice(invoice, customer_id)

    payment_id = await erp.apply_payment(make_payment(invoice), customer_id, invoice_id)

    paid = await erp.get_record("invoice", invoice_id)
    assert (paid["status"], paid["amountRemaining"]) == ("Paid In Full", 0)
    payment = await erp.get_record("customerPayment", payment_id)
    assert Money.from_decimal(payment["payment"], "USD") == invoice.total
    assert payment["apply"]["items"][0]["doc"]["id"] == invoice_id
    assert payment["unapplied"] == 0


async def test_repeating_post_invoice_and_apply_payment_keeps_one_record_each(
    erp: NetSuiteErp, http: httpx.AsyncClient, base_url: str
) -> None:
    customer_id = await customer_in(erp)
    invoice = make_invoice()
    payment = make_payment(invoice)

    invoice_ids = {await erp.post_invoice(invoice, customer_id) for _ in range(2)}
    [invoice_id] = invoice_ids
    payment_ids = {await erp.apply_payment(payment, customer_id, invoice_id) for _ in range(2)}

    assert len(payment_ids) == 1
    assert len(await records_with(http, base_url, "invoice", invoice.external_refs["stripe"])) == 1
    assert len(await records_with(http, base_url, "customerPayment", payment.external_refs["stripe"])) == 1
    assert (await erp.get_record("invoice", invoice_id))["amountRemaining"] == 0


async def test_payment_above_the_amount_due_is_a_business_rule_error(
    erp: NetSuiteErp, http: httpx.AsyncClient, base_url: str
) -> None:
    customer_id = await customer_in(erp)
    invoice = make_invoice()
    invoice_id = await erp.post_invoice(invoice, customer_id)
    too_much = make_payment(invoice, invoice.total + Money(amount=1, currency="USD"))

    with pytest.raises(BusinessRuleError) as refused:
        await erp.apply_payment(too_much, customer_id, invoice_id)

    assert refused.value.code == "USER_ERROR"
    assert "exceeds the amount due" in refused.value.message
    assert await records_with(http, base_url, "customerPayment", too_much.external_refs["stripe"]) == []


@pytest.mark.parametrize(
    ("closed_before", "issue_date"),
    [(None, date(2019, 12, 31)), ("2025-04-01", date(2025, 3, 15))],
    ids=["seeded-closed-period", "period-closed-by-finance"],
)
async def test_invoice_dated_in_a_closed_period_is_a_business_rule_error(
    erp: NetSuiteErp, http: httpx.AsyncClient, base_url: str, closed_before: str | None, issue_date: date
) -> None:
    customer_id = await customer_in(erp)
    if closed_before:
        await http.post(f"{base_url}/_sandbox/periods/close", json={"before": closed_before})

    with pytest.raises(BusinessRuleError) as refused:
        await erp.post_invoice(make_invoice(issue_date=issue_date), customer_id)

    assert refused.value.code == "USER_ERROR"
    assert "period" in refused.value.message
    assert "closed" in refused.value.message


def test_unbalanced_journal_entry_cannot_be_built() -> None:
    with pytest.raises(ValidationError, match="unbalanced"):
        JournalEntry(
            external_id="fee-py_1",
            legal_entity="US01",
            date=date(2025, 3, 2),
            lines=[
                JournalLine(account=MERCHANT_FEES_ACCOUNT, debit=Money(amount=3_20, currency="USD")),
                JournalLine(account=CASH_ACCOUNT, credit=Money(amount=3_00, currency="USD")),
            ],
        )


async def test_balanced_fee_journal_posts_once(erp: NetSuiteErp, http: httpx.AsyncClient, base_url: str) -> None:
    fee = Money(amount=3_20, currency="USD")
    entry = JournalEntry(
        external_id=f"fee-{uuid.uuid4().hex[:8]}",
        legal_entity="US01",
        date=date(2025, 3, 2),
        memo="Stripe fee",
        lines=[
            JournalLine(account=MERCHANT_FEES_ACCOUNT, debit=fee, memo="fee"),
            JournalLine(account=CASH_ACCOUNT, credit=fee, memo="fee"),
        ],
    )

    first = await erp.post_journal_entry(entry)
    assert await erp.post_journal_entry(entry) == first

    [record] = await records_with(http, base_url, "journalEntry", entry.external_id)
    debit, credit = record["line"]["items"]
    assert (debit["account"]["refName"], debit["debit"]) == ("Merchant Fees", Decimal("3.20"))
    assert (credit["account"]["refName"], credit["credit"]) == ("Undeposited Funds", Decimal("3.20"))


async def test_credit_memo_reverses_the_posted_invoice_once(
    erp: NetSuiteErp, http: httpx.AsyncClient, base_url: str
) -> None:
    customer_id = await customer_in(erp)
    invoice = make_invoice()
    invoice_id = await erp.post_invoice(invoice, customer_id)

    memo_id = await erp.post_credit_memo(invoice, invoice_id, customer_id)
    assert await erp.post_credit_memo(invoice, invoice_id, customer_id) == memo_id

    memo = await erp.get_by_external_id("creditMemo", "cm-" + invoice.external_refs["stripe"])
    assert memo is not None
    assert (memo["id"], memo["createdFrom"]["id"], memo["status"]) == (memo_id, invoice_id, "Fully Applied")
    assert Money.from_decimal(memo["total"], "USD") == invoice.total
    assert (await erp.get_record("invoice", invoice_id))["amountRemaining"] == 0
    assert len((await sandbox_state(http, base_url))["creditMemo"]) == 1


async def test_lost_response_on_post_invoice_then_retry_keeps_one_record(
    http: httpx.AsyncClient, base_url: str
) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.3)) as impatient:
        erp = erp_connector(impatient, base_url)
        customer_id = await customer_in(erp)
        invoice = make_invoice()
        await arm(http, base_url, method="PUT", path_prefix=f"{RECORDS}/invoice", kind="delay_after", seconds=1.0)

        with pytest.raises(UncertainOutcome):
            await erp.post_invoice(invoice, customer_id)
        retried = await erp.post_invoice(invoice, customer_id)

    [record] = await records_with(http, base_url, "invoice", invoice.external_refs["stripe"])
    assert record["id"] == retried


async def test_lost_token_response_is_transient(http: httpx.AsyncClient, base_url: str) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.3)) as impatient:
        erp = erp_connector(impatient, base_url)
        await arm(http, base_url, method="POST", path_prefix=TOKEN, kind="delay_after", seconds=1.0)

        with pytest.raises(TransientError) as lost:
            await customer_in(erp)

    assert lost.value.code == "token_unavailable"


async def test_expired_token_is_refetched_once_and_the_call_succeeds(
    erp: NetSuiteErp, http: httpx.AsyncClient, base_url: str
) -> None:
    await customer_in(erp)
    await http.post(f"{base_url}/_sandbox/tokens/revoke")

    await customer_in(erp)

    state = await sandbox_state(http, base_url)
    assert (len(state["customer"]), state["tokensIssued"]) == (2, 2)


async def test_401_after_a_fresh_token_is_a_permanent_error(
    erp: NetSuiteErp, http: httpx.AsyncClient, base_url: str
) -> None:
    customer_id = await customer_in(erp)
    unauthorized = {"status": 401, "o:errorDetails": [{"detail": "Invalid login", "o:errorCode": "INVALID_LOGIN"}]}
    await arm(http, base_url, path_prefix=RECORDS, kind="status", status=401, body=unauthorized, times=2)

    with pytest.raises(PermanentError) as refused:
        await erp.get_record("customer", customer_id)

    # Revoked access: the saga parks with a clear `auth` problem naming NetSuite's code.
    assert (refused.value.status, refused.value.code) == (401, "auth")
    assert "INVALID_LOGIN" in refused.value.message
    assert (await sandbox_state(http, base_url))["tokensIssued"] == 2


async def test_an_assertion_signed_for_an_unmapped_certificate_is_an_auth_error(
    http: httpx.AsyncClient, base_url: str
) -> None:
    erp = NetSuiteErp(http, base_url, M2MCredentials(CREDENTIALS.client_id, "unmapped", CREDENTIALS.private_key_pem))

    with pytest.raises(PermanentError) as refused:
        await customer_in(erp)

    assert (refused.value.status, refused.value.code) == (400, "auth")
    assert "invalid_grant" in refused.value.message


async def test_no_private_key_is_an_auth_error_before_anything_is_sent(http: httpx.AsyncClient, base_url: str) -> None:
    erp = NetSuiteErp(http, base_url, M2MCredentials(CREDENTIALS.client_id, CREDENTIALS.certificate_id))

    with pytest.raises(PermanentError) as refused:
        await customer_in(erp)

    assert refused.value.code == "auth"
    assert (await sandbox_state(http, base_url))["tokensIssued"] == 0


async def test_the_token_is_rotated_before_it_expires_without_a_refused_call(
    http: httpx.AsyncClient, base_url: str
) -> None:
    now = [1000.0]
    erp = NetSuiteErp(http, base_url, CREDENTIALS, clock=lambda: now[0])
    await customer_in(erp)
    now[0] += 3600 - 61  # NetSuite's tokens last 3600 s: still a minute and a second to go, the same token
    await customer_in(erp)
    assert (await sandbox_state(http, base_url))["tokensIssued"] == 1

    now[0] += 1  # within the last minute: a new token before the next call, not after a 401
    await customer_in(erp)

    assert (await sandbox_state(http, base_url))["tokensIssued"] == 2


async def test_reference_the_account_does_not_hold_is_a_permanent_error(erp: NetSuiteErp) -> None:
    customer_id = await customer_in(erp, "US01")

    with pytest.raises(PermanentError) as refused:
        await erp.post_invoice(make_invoice("EUR", "US01"), customer_id)

    assert (refused.value.status, refused.value.code) == (400, "INVALID_KEY_OR_REF")
    assert "currency" in refused.value.message


async def test_lookups_by_id_and_external_id(erp: NetSuiteErp) -> None:
    customer = make_customer()
    customer_id = await erp.upsert_customer(customer, LEGAL_ENTITIES["DE01"], "EUR")

    found = await erp.get_by_external_id("customer", ids.erp_customer_id(customer.golden_id or "", "DE01"))
    assert found is not None
    assert found["id"] == customer_id
    assert await erp.get_by_external_id("customer", "gc_nobody") is None
    with pytest.raises(PermanentError) as missing:
        await erp.get_record("customer", "999999")
    assert (missing.value.status, missing.value.code) == (404, "NONEXISTENT_ID")


async def test_payment_that_has_not_succeeded_is_refused_before_sending(erp: NetSuiteErp) -> None:
    invoice = make_invoice()
    pending = make_payment(invoice).model_copy(update={"status": PaymentStatus.PENDING})

    with pytest.raises(PermanentError, match="payment_not_settled"):
        await erp.apply_payment(pending, "1001", "1002")


def _ns_error(status: int, code: str) -> dict[str, Any]:
    return {"title": "Error", "status": status, "o:errorDetails": [{"detail": f"{code} happened", "o:errorCode": code}]}


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected", "code", "retry_after"),
    [
        pytest.param(
            429,
            {"Retry-After": "7"},
            _ns_error(429, "CONCURRENCY_LIMIT_EXCEEDED"),
            TransientError,
            None,
            7.0,
            id="429-concurrency-limit-with-retry-after",
        ),
        pytest.param(
            400, {}, _ns_error(400, "SSS_REQUEST_LIMIT_EXCEEDED"), TransientError, None, None, id="request-limit"
        ),
        pytest.param(503, {}, None, TransientError, "http_503", None, id="503-without-body"),
        pytest.param(409, {}, None, TransientError, "http_409", None, id="409-conflict"),
        pytest.param(403, {}, _ns_error(403, "INSUFFICIENT_PERMISSION"), PermanentError, None, None, id="403"),
        pytest.param(400, {}, _ns_error(400, "INVALID_CONTENT"), PermanentError, None, None, id="invalid-content"),
        pytest.param(400, {}, _ns_error(400, "INVALID_VALUE"), PermanentError, None, None, id="invalid-value"),
        pytest.param(400, {}, {"title": "Bad Request"}, PermanentError, "http_400", None, id="400-without-code"),
        pytest.param(400, {}, _ns_error(400, "USER_ERROR"), BusinessRuleError, None, None, id="user-error"),
        pytest.param(400, {}, _ns_error(400, "DUP_RCRD"), BusinessRuleError, None, None, id="other-business-code"),
    ],
)
async def test_classify_maps_each_netsuite_answer_to_the_taxonomy(
    erp: NetSuiteErp,
    http: httpx.AsyncClient,
    base_url: str,
    status: int,
    headers: dict[str, str],
    body: Any,
    expected: type[Exception],
    code: str | None,
    retry_after: float | None,
) -> None:
    customer_id = await customer_in(erp)
    await arm(
        http, base_url, method="GET", path_prefix=RECORDS, kind="status", status=status, headers=headers, body=body
    )

    with pytest.raises(expected) as raised:
        await erp.get_record("customer", customer_id)

    error = raised.value
    assert type(error) is expected
    assert getattr(error, "status", None) == status
    assert getattr(error, "code", None) == (code or body["o:errorDetails"][0]["o:errorCode"])
    if isinstance(error, TransientError):
        assert error.retry_after == retry_after


async def test_one_golden_customer_gets_one_erp_customer_per_subsidiary(erp: NetSuiteErp) -> None:
    customer = make_customer()
    us = await erp.upsert_customer(customer, LEGAL_ENTITIES["US01"], "USD")
    de = await erp.upsert_customer(customer, LEGAL_ENTITIES["DE01"], "EUR")
    assert us != de
    assert await erp.upsert_customer(customer, LEGAL_ENTITIES["DE01"], "EUR") == de
    assert (await erp.get_record("customer", de))["subsidiary"]["id"] == "2"


# -- customer updates -----------------------------------------------------------------------------


async def test_upsert_customer_updates_name_address_and_tax_id_of_the_existing_record(
    erp: NetSuiteErp, http: httpx.AsyncClient, base_url: str
) -> None:
    customer = make_customer().model_copy(update={"tax_id": "US-12-3456789"})
    first = await erp.upsert_customer(customer, LEGAL_ENTITIES["US01"], "USD")
    moved = customer.model_copy(
        update={
            "legal_name": "Acme Holdings Inc.",
            "tax_id": "US-98-7654321",
            "address": Address(
                line1="9 Elm St", line2="Floor 3", city="Dallas", region="TX", postal_code="75201", country="US"
            ),
        }
    )

    assert await erp.upsert_customer(moved, LEGAL_ENTITIES["US01"], "USD") == first

    [record] = await records_with(http, base_url, "customer", ids.erp_customer_id(customer.golden_id or "", "US01"))
    assert record["companyName"] == "Acme Holdings Inc."
    assert record["defaultAddress"] == "9 Elm St\nFloor 3\nDallas TX 75201\nUS"
    assert len(record["addressBook"]["items"]) == 1  # replaced, not added beside the old address
    assert record["taxRegistration"]["items"] == [
        {"nexusCountry": {"id": "US"}, "taxRegistrationNumber": "US-98-7654321"}
    ]

    await erp.upsert_customer(moved.model_copy(update={"tax_id": None}), LEGAL_ENTITIES["US01"], "USD")
    assert (await erp.get_record("customer", first))["taxRegistration"]["items"] == []


# -- postings in closed periods -------------------------------------------------------------------


async def close_before(http: httpx.AsyncClient, base_url: str, day: str) -> None:
    (await http.post(f"{base_url}/_sandbox/periods/close", json={"before": day})).raise_for_status()


def fee_entry(day: date) -> JournalEntry:
    fee = Money(amount=3_20, currency="USD")
    return JournalEntry(
        external_id=f"fee-{uuid.uuid4().hex[:8]}",
        legal_entity="US01",
        date=day,
        lines=[JournalLine(account=MERCHANT_FEES_ACCOUNT, debit=fee), JournalLine(account=CASH_ACCOUNT, credit=fee)],
    )


def test_first_of_month_walks_across_years() -> None:
    assert [first_of_month(date(2025, 11, 30), n) for n in (0, 1, 2, 14)] == [
        date(2025, 11, 1),
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2027, 1, 1),
    ]


async def test_credit_memo_is_dated_like_the_invoice_while_its_period_is_open(erp: NetSuiteErp) -> None:
    customer_id = await customer_in(erp)
    invoice = make_invoice(issue_date=date(2025, 3, 14))
    invoice_id = await erp.post_invoice(invoice, customer_id)

    memo = await erp.get_record("creditMemo", await erp.post_credit_memo(invoice, invoice_id, customer_id))

    assert memo["tranDate"] == "2025-03-14"


@pytest.mark.parametrize(
    ("closed_before", "memo_date"),
    [("2025-04-01", "2025-04-01"), ("2025-05-15", "2025-06-01"), ("2026-01-01", "2026-01-01")],
    ids=["month-closed", "closed-mid-month", "year-closed"],
)
async def test_credit_memo_for_an_invoice_in_a_closed_period_lands_on_the_first_open_month(
    erp: NetSuiteErp, http: httpx.AsyncClient, base_url: str, closed_before: str, memo_date: str
) -> None:
    customer_id = await customer_in(erp)
    invoice = make_invoice(issue_date=date(2025, 3, 14))
    invoice_id = await erp.post_invoice(invoice, customer_id)
    await close_before(http, base_url, closed_before)

    memo_id = await erp.post_credit_memo(invoice, invoice_id, customer_id)

    assert await erp.post_credit_memo(invoice, invoice_id, customer_id) == memo_id
    [memo] = await records_with(http, base_url, "creditMemo", "cm-" + invoice.external_refs["stripe"])
    assert (memo["id"], memo["tranDate"], memo["status"]) == (memo_id, memo_date, "Fully Applied")
    assert Money.from_decimal(memo["total"], "USD") == invoice.total
    assert (await erp.get_record("invoice", invoice_id))["amountRemaining"] == 0


async def test_journal_entry_in_a_closed_period_lands_on_the_first_open_month(
    erp: NetSuiteErp, http: httpx.AsyncClient, base_url: str
) -> None:
    await close_before(http, base_url, "2025-04-01")
    entry = fee_entry(date(2025, 3, 2))

    entry_id = await erp.post_journal_entry(entry)

    assert await erp.post_journal_entry(entry) == entry_id
    [record] = await records_with(http, base_url, "journalEntry", entry.external_id)
    assert (record["id"], record["tranDate"]) == (entry_id, "2025-04-01")


async def test_netsuites_closed_period_code_also_moves_the_posting(
    erp: NetSuiteErp, http: httpx.AsyncClient, base_url: str
) -> None:
    closed = {
        "status": 400,
        "o:errorDetails": [{"detail": "Closed transaction period.", "o:errorCode": "CLOSED_TRAN_PRD"}],
    }
    await arm(
        http, base_url, method="PUT", path_prefix=f"{RECORDS}/journalEntry", kind="status", status=400, body=closed
    )
    entry = fee_entry(date(2025, 3, 2))

    entry_id = await erp.post_journal_entry(entry)

    assert (await erp.get_record("journalEntry", entry_id))["tranDate"] == "2025-04-01"


async def test_other_refusals_of_a_posting_are_not_moved_to_another_period(
    erp: NetSuiteErp, http: httpx.AsyncClient, base_url: str
) -> None:
    refused = {"status": 400, "o:errorDetails": [{"detail": "Out of balance.", "o:errorCode": "USER_ERROR"}]}
    await arm(
        http, base_url, method="PUT", path_prefix=f"{RECORDS}/journalEntry", kind="status", status=400, body=refused
    )
    entry = fee_entry(date(2025, 3, 2))

    with pytest.raises(BusinessRuleError) as caught:
        await erp.post_journal_entry(entry)

    assert (caught.value.code, caught.value.message) == ("USER_ERROR", "Out of balance.")
    assert await records_with(http, base_url, "journalEntry", entry.external_id) == []


async def test_no_open_period_within_24_months_is_a_business_rule_error(
    erp: NetSuiteErp, http: httpx.AsyncClient, base_url: str
) -> None:
    await close_before(http, base_url, "2027-03-02")  # the 24th month after March 2025 is still closed
    entry = fee_entry(date(2025, 3, 2))

    with pytest.raises(BusinessRuleError) as caught:
        await erp.post_journal_entry(entry)

    assert caught.value.code == "no_open_period"
    assert "24 months" in caught.value.message
    assert await records_with(http, base_url, "journalEntry", entry.external_id) == []


async def test_credit_memo_for_an_invoice_the_erp_does_not_hold_is_permanent_and_writes_nothing(
    erp: NetSuiteErp, http: httpx.AsyncClient, base_url: str
) -> None:
    customer_id = await customer_in(erp)
    invoice = make_invoice()

    with pytest.raises(PermanentError) as caught:
        await erp.post_credit_memo(invoice, "999999", customer_id)

    assert caught.value.code == "invoice_not_found"
    assert (await sandbox_state(http, base_url))["creditMemo"] == []


async def test_credit_memo_refuses_to_reverse_another_invoice(
    erp: NetSuiteErp, http: httpx.AsyncClient, base_url: str
) -> None:
    customer_id = await customer_in(erp)
    other_id = await erp.post_invoice(make_invoice(), customer_id)

    with pytest.raises(PermanentError) as caught:
        await erp.post_credit_memo(make_invoice(), other_id, customer_id)

    assert caught.value.code == "invoice_mismatch"
    assert (await sandbox_state(http, base_url))["creditMemo"] == []


@pytest.mark.parametrize("period_closes_meanwhile", [False, True], ids=["period-open", "period-closed-before-retry"])
async def test_lost_response_on_credit_memo_then_retry_keeps_one_memo(
    http: httpx.AsyncClient, base_url: str, period_closes_meanwhile: bool
) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.3)) as impatient:
        erp = erp_connector(impatient, base_url)
        customer_id = await customer_in(erp)
        invoice = make_invoice(issue_date=date(2025, 3, 14))
        invoice_id = await erp.post_invoice(invoice, customer_id)
        await arm(http, base_url, method="PUT", path_prefix=f"{RECORDS}/creditMemo", kind="delay_after", seconds=1.0)

        with pytest.raises(UncertainOutcome):
            await erp.post_credit_memo(invoice, invoice_id, customer_id)
        if period_closes_meanwhile:
            await close_before(http, base_url, "2025-04-01")
        retried = await erp.post_credit_memo(invoice, invoice_id, customer_id)

    [memo] = (await sandbox_state(http, base_url))["creditMemo"]
    assert (memo["id"], memo["tranDate"]) == (retried, "2025-03-14")
    assert Money.from_decimal(memo["total"], "USD") == invoice.total


async def test_a_second_billing_system_is_the_callers_choice_of_external_ids(erp: NetSuiteErp) -> None:
    customer_id = await customer_in(erp)
    stripe_invoice = make_invoice()
    billing_invoice_id = "cb_" + stripe_invoice.external_refs["stripe"]
    invoice = stripe_invoice.model_copy(update={"external_refs": {"chargebee": billing_invoice_id}})
    payment = make_payment(stripe_invoice).model_copy(
        update={"invoice_id": billing_invoice_id, "external_refs": {"chargebee": "cbpay_1"}}
    )

    with pytest.raises(PermanentError) as missing:
        await erp.post_invoice(invoice, customer_id)  # the default billing system has no id on it
    assert missing.value.code == "missing_invoice_id"

    invoice_id = await erp.post_invoice(invoice, customer_id, billing_system="chargebee")
    payment_id = await erp.apply_payment(payment, customer_id, invoice_id, billing_system="chargebee")
    memo_id = await erp.post_credit_memo(invoice, invoice_id, customer_id, billing_system="chargebee")

    assert (await erp.get_record("invoice", invoice_id))["externalId"] == billing_invoice_id
    assert (await erp.get_record("customerPayment", payment_id))["externalId"] == "cbpay_1"
    assert (await erp.get_record("creditMemo", memo_id))["externalId"] == f"cm-{billing_invoice_id}"
