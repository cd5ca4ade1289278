"""Every billing period on hand-made snapshots: later periods' invoices (billed by the subscription's lifecycle),
credit notes against their ERP credit memos, and each c2c subscription against its CRM contract. A consistent
estate with several periods reports nothing; each planted break is found once, with its kind and the ids to act."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from canonical.records import (
    BillingCreditNote,
    BillingInvoice,
    CrmContract,
    ErpCreditMemo,
    ErpInvoice,
    ErpPayment,
    Snapshots,
    TaxDocument,
)
from reconcile.compare import Mismatch, MismatchKind, compare
from reconcile.periods import last_day
from tests.support.snapshots import NOW, estate

TERM_END = datetime(2027, 10, 27, tzinfo=UTC)  # billing's cancel_at: midnight after the contract's last day
SUBTOTAL, TAX = 1000_00, 90_00


def later_period(snap: Snapshots, n: int, period: int, *, at: datetime | None = None) -> BillingInvoice:
    """Period `period` of deal `n`, billed by its lifecycle and in agreement everywhere."""
    deal, created = f"D{n}", at or NOW - timedelta(days=1, hours=10 - period)
    invoice = BillingInvoice(
        invoice_id=f"in_{n}_p{period}",
        number=f"INV-{n:04d}-{period}",
        subscription_id=f"sub_{n}",
        customer_id=f"cus_{n}",
        saga_id=f"c2c:salesforce:{deal}:subscription",
        status="paid",
        currency="USD",
        total=SUBTOTAL + TAX,
        tax=TAX,
        amount_paid=SUBTOTAL + TAX,
        payment_id=f"pi_{n}_p{period}",
        tax_document_code=f"c2c-salesforce-{deal}-p{period}",
        created=created,
        finalized_at=created + timedelta(seconds=10),
        paid_at=created + timedelta(seconds=20),
        billing_reason="subscription_cycle",
        legal_entity="US01",
    )
    erp_id = str(3000 + 10 * n + period)
    snap.billing.invoices.append(invoice)
    snap.tax.documents.append(
        TaxDocument(
            company_code="US01", code=invoice.tax_document_code or "", status="Committed", currency="USD", total_tax=TAX
        )
    )
    snap.erp.invoices.append(
        ErpInvoice(
            internal_id=erp_id,
            external_id=invoice.invoice_id,
            reference=invoice.number,
            customer_id=str(500 + n),
            currency="USD",
            total=invoice.total,
            amount_remaining=0,
            created_at=created + timedelta(seconds=15),
        )
    )
    snap.erp.payments.append(
        ErpPayment(
            internal_id=str(4000 + 10 * n + period),
            external_id=invoice.payment_id,
            currency="USD",
            amount=invoice.total,
            applied={erp_id: invoice.total},
        )
    )
    return invoice


def credit(snap: Snapshots, invoice: BillingInvoice, amount: int, *, memo: bool = True) -> BillingCreditNote:
    """A lifecycle's cancellation credit on `invoice`, with its ERP credit memo (external id = the note's id)."""
    note = BillingCreditNote(
        credit_note_id=f"cn_{invoice.invoice_id}",
        invoice_id=invoice.invoice_id,
        customer_id=invoice.customer_id,
        status="issued",
        currency=invoice.currency,
        total=amount,
        key=f"{invoice.saga_id}:cancellation:X1:credit",
        created=NOW - timedelta(hours=5),
    )
    snap.billing.credit_notes.append(note)
    erp_invoice = next(e for e in snap.erp.invoices if e.external_id == invoice.invoice_id)
    if memo:
        snap.erp.credit_memos.append(
            ErpCreditMemo(
                internal_id=f"9{erp_invoice.internal_id}",
                external_id=note.credit_note_id,
                created_from=erp_invoice.internal_id,
                currency=note.currency,
                total=amount,
            )
        )
    return note


def contracts(snap: Snapshots) -> list[CrmContract]:
    """An Activated contract per subscription, ending the day before billing's cancel_at."""
    snap.crm.contracts = []
    for n, subscription in enumerate(snap.billing.subscriptions, start=1):
        subscription.cancel_at = TERM_END
        snap.crm.contracts.append(
            CrmContract(
                contract_id=f"800{n:012d}",
                deal_id=subscription.deal_id,
                subscription_id=subscription.subscription_id,
                account_id=f"A{n}",
                status="Activated",
                start_date=date(2026, 10, 27),
                end_date=date(2027, 10, 26),
                term_months=12,
            )
        )
    return snap.crm.contracts


def periods_estate(deals: int = 3, periods: int = 4) -> Snapshots:
    """`deals` completed deals, each with periods 2..`periods` billed by its lifecycle, one credit note, contracts."""
    snap = estate(deals, subtotal=SUBTOTAL, tax=TAX)
    for n in range(1, deals + 1):
        for period in range(2, periods + 1):
            later_period(snap, n, period)
    last = next(i for i in snap.billing.invoices if i.invoice_id == f"in_1_p{periods}")
    credit(snap, last, 400_00)
    contracts(snap)
    return snap


def only(snap: Snapshots) -> Mismatch:
    [mismatch] = compare(snap)
    return mismatch


def test_several_periods_credits_and_contracts_in_agreement_report_nothing() -> None:
    snap = periods_estate(3, 4)
    assert len(snap.billing.invoices) == 12
    assert compare(snap) == []


def test_a_later_period_not_in_the_erp_is_missing_in_erp_with_its_invoice_and_lifecycle() -> None:
    snap = periods_estate()
    snap.erp.invoices = [e for e in snap.erp.invoices if e.external_id != "in_2_p3"]
    mismatch = only(snap)  # its payment has nothing to be applied to: missing_in_erp says it
    assert (mismatch.kind, mismatch.system, mismatch.deal_id) == (MismatchKind.MISSING_IN_ERP, "netsuite", "D2")
    assert (mismatch.invoice_id, mismatch.subscription_id) == ("in_2_p3", "sub_2")
    assert mismatch.saga_id == "c2c:salesforce:D2:subscription"
    assert mismatch.key == "missing_in_erp:netsuite:D2:in_2_p3"


def test_a_later_period_whose_erp_total_differs_is_amount_differs() -> None:
    snap = periods_estate()
    erp = next(e for e in snap.erp.invoices if e.external_id == "in_3_p2")
    erp.total -= 1
    mismatch = only(snap)
    assert (mismatch.kind, mismatch.system, mismatch.invoice_id) == (MismatchKind.AMOUNT_DIFFERS, "netsuite", "in_3_p2")
    assert mismatch.erp_id == erp.internal_id


def test_a_paid_period_whose_payment_is_not_applied_is_payment_unapplied() -> None:
    snap = periods_estate()
    partly = next(p for p in snap.erp.payments if p.external_id == "pi_1_p2")
    partly.applied = {k: v - 100 for k, v in partly.applied.items()}
    snap.erp.payments = [p for p in snap.erp.payments if p.external_id != "pi_2_p4"]
    found = [(m.kind, m.invoice_id, m.found) for m in compare(snap)]
    assert [(kind, invoice) for kind, invoice, _ in found] == [
        (MismatchKind.PAYMENT_UNAPPLIED, "in_1_p2"),
        (MismatchKind.PAYMENT_UNAPPLIED, "in_2_p4"),
    ]
    assert found[1][2] == "no ERP payment"


def test_a_period_tax_document_not_committed_is_missing_tax_document() -> None:
    snap = periods_estate()
    doc = next(d for d in snap.tax.documents if d.code == "c2c-salesforce-D1-p3")
    doc.status = "Saved"
    mismatch = only(snap)
    assert (mismatch.kind, mismatch.invoice_id) == (MismatchKind.MISSING_TAX_DOCUMENT, "in_1_p3")


def test_a_period_being_billed_now_is_left_to_its_lifecycle() -> None:
    snap = periods_estate()
    fresh = later_period(snap, 1, 5, at=NOW - timedelta(minutes=30))  # finalized, not yet posted nor applied
    snap.erp.invoices = [e for e in snap.erp.invoices if e.external_id != fresh.invoice_id]
    snap.erp.payments = [p for p in snap.erp.payments if p.external_id != fresh.payment_id]
    assert compare(snap) == []


def test_drafts_and_voided_periods_are_not_checked() -> None:
    snap = periods_estate()
    for status in ("draft", "void"):
        invoice = later_period(snap, 2, 6 if status == "draft" else 7)
        invoice.status = status
        snap.erp.invoices = [e for e in snap.erp.invoices if e.external_id != invoice.invoice_id]
    assert compare(snap) == []


def test_later_periods_of_a_deal_outside_the_window_are_still_checked() -> None:
    snap = periods_estate()
    snap.crm.deals = [d for d in snap.crm.deals if d.deal_id != "D3"]  # closed long ago
    snap.sagas.sagas = [s for s in snap.sagas.sagas if s.deal_id != "D3"]
    assert compare(snap) == []
    snap.erp.payments = [p for p in snap.erp.payments if p.external_id != "pi_3_p2"]
    mismatch = only(snap)
    assert (mismatch.kind, mismatch.deal_id, mismatch.invoice_id) == (MismatchKind.PAYMENT_UNAPPLIED, "D3", "in_3_p2")


def test_later_periods_are_not_duplicates_of_the_first() -> None:
    snap = periods_estate(1, 6)
    assert [m for m in compare(snap) if m.kind is MismatchKind.DUPLICATE] == []
    second_first = snap.billing.invoices[0].model_copy(update={"invoice_id": "in_1_again"})
    snap.billing.invoices.append(second_first)
    kinds = {(m.kind, m.system) for m in compare(snap)}
    assert (MismatchKind.DUPLICATE, "stripe") in kinds


def test_a_credit_note_without_its_credit_memo_is_missing_credit_memo() -> None:
    snap = periods_estate()
    snap.erp.credit_memos = []
    mismatch = only(snap)
    assert (mismatch.kind, mismatch.system, mismatch.deal_id) == (MismatchKind.MISSING_CREDIT_MEMO, "netsuite", "D1")
    assert (mismatch.credit_note_id, mismatch.invoice_id) == ("cn_in_1_p4", "in_1_p4")


def test_a_credit_memo_of_another_total_or_invoice_differs() -> None:
    snap = periods_estate()
    memo = snap.erp.credit_memos[0]
    memo.total += 1
    mismatch = only(snap)
    assert (mismatch.kind, mismatch.credit_note_id, mismatch.erp_id) == (
        MismatchKind.CREDIT_MEMO_DIFFERS,
        "cn_in_1_p4",
        memo.internal_id,
    )
    memo.total -= 1
    memo.created_from = "1"
    assert "created from ERP invoice 1" in only(snap).found


def test_a_saga_unwind_reversing_the_whole_invoice_counts_as_its_memo() -> None:
    snap = periods_estate()
    note = credit(snap, snap.billing.invoices[1], 500_00, memo=False)  # the first period of D2
    snap.erp.credit_memos.append(
        ErpCreditMemo(internal_id="77", external_id=f"cm-{note.invoice_id}", currency="USD", total=1090_00)
    )
    assert compare(snap) == []


def test_credit_notes_c2c_did_not_issue_or_just_issued_are_not_checked() -> None:
    snap = periods_estate()
    snap.erp.credit_memos = []
    snap.billing.credit_notes[0].created = NOW - timedelta(minutes=10)
    foreign = BillingCreditNote(
        credit_note_id="cn_x",
        invoice_id="in_x",
        status="issued",
        currency="USD",
        total=5,
        created=NOW - timedelta(days=2),
    )
    snap.billing.credit_notes.append(foreign)
    assert compare(snap) == []


def test_a_subscription_cancelled_in_billing_with_its_contract_still_running_is_contract_not_ended() -> None:
    snap = periods_estate()
    subscription = snap.billing.subscriptions[0]
    subscription.status, subscription.ended_at = "canceled", NOW - timedelta(days=1, hours=3)
    subscription.canceled_at = subscription.ended_at
    mismatch = only(snap)
    assert (mismatch.kind, mismatch.system, mismatch.subscription_id) == (
        MismatchKind.CONTRACT_NOT_ENDED,
        "salesforce",
        "sub_1",
    )
    assert mismatch.contract_id == snap.crm.contracts[0].contract_id  # type: ignore[index]
    assert mismatch.saga_id == "c2c:salesforce:D1:subscription"
    assert "2026-11-26" in mismatch.expected
    assert "Activated until 2027-10-26" in mismatch.found


def test_a_contract_ending_on_another_day_than_billing_is_contract_end_differs() -> None:
    snap = periods_estate()
    snap.billing.subscriptions[1].cancel_at = datetime(2028, 10, 27, tzinfo=UTC)  # renewed in billing only
    mismatch = only(snap)
    assert (mismatch.kind, mismatch.subscription_id) == (MismatchKind.CONTRACT_END_DIFFERS, "sub_2")
    assert mismatch.expected.startswith("EndDate 2028-10-26")
    assert mismatch.found == "EndDate 2027-10-26"


def test_an_ended_subscription_whose_contract_ends_that_day_agrees() -> None:
    snap = periods_estate()
    subscription = snap.billing.subscriptions[2]
    subscription.status, subscription.ended_at = "canceled", datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    assert snap.crm.contracts is not None
    snap.crm.contracts[2].end_date = date(2026, 11, 20)
    assert compare(snap) == []


def test_the_last_day_served_is_the_day_before_a_midnight_end() -> None:
    assert last_day(datetime(2027, 10, 27, tzinfo=UTC)) == date(2027, 10, 26)
    assert last_day(datetime(2027, 10, 27, 0, 0, 1, tzinfo=UTC)) == date(2027, 10, 27)


def test_a_billed_subscription_without_a_contract_past_the_grace_is_missing_contract() -> None:
    snap = periods_estate()
    assert snap.crm.contracts is not None
    snap.crm.contracts = [c for c in snap.crm.contracts if c.subscription_id != "sub_3"]
    mismatch = only(snap)
    assert (mismatch.kind, mismatch.system, mismatch.deal_id) == (MismatchKind.MISSING_CONTRACT, "salesforce", "D3")
    assert mismatch.subscription_id == "sub_3"
    assert compare(snap, contract_after=timedelta(days=5)) == []  # D3's subscription is 3 days old


def test_contracts_not_read_are_not_compared() -> None:
    snap = periods_estate()
    snap.crm.contracts = None  # a run recorded before the contract read
    snap.billing.subscriptions[0].status = "canceled"
    assert compare(snap) == []


def test_a_contract_found_by_deal_when_its_subscription_field_is_empty() -> None:
    snap = periods_estate()
    assert snap.crm.contracts is not None
    snap.crm.contracts[0].subscription_id = None
    assert compare(snap) == []


def test_a_cancelled_saga_needs_no_contract() -> None:
    snap = periods_estate(2, 2)
    snap.sagas.sagas[1].stage = "cancelled"
    assert snap.crm.contracts is not None
    snap.crm.contracts = [c for c in snap.crm.contracts if c.deal_id != "D2"]
    snap.billing.invoices = [i for i in snap.billing.invoices if i.invoice_id not in ("in_2", "in_2_p2")]
    assert compare(snap) == []


def test_kpis_count_every_period_and_credit_per_entity_and_currency() -> None:
    from reconcile.kpis import PeriodCounts, compute

    snap = periods_estate(2, 3)  # 2 deals x 3 periods, one credit on D1's period 3
    snap.erp.payments = [p for p in snap.erp.payments if p.external_id != "pi_2_p3"]
    snap.billing.invoices[0].legal_entity = "US01"  # the first periods name theirs through the subscription
    for subscription in snap.billing.subscriptions:
        subscription.legal_entity = "US01"
    [counts] = compute(snap).periods
    assert counts == PeriodCounts(
        legal_entity="US01",
        currency="USD",
        erp="netsuite",  # the default: the snapshot names no entity's ERP
        billed=6,
        posted=6,
        paid=6,
        applied=5,
        credits=1,
        credited=400_00,
        credit_memos=1,
    )


def test_a_contract_terminated_on_the_last_day_billing_served_agrees() -> None:
    snap = periods_estate()
    subscription = snap.billing.subscriptions[0]
    subscription.status, subscription.ended_at = "canceled", datetime(2026, 11, 20, tzinfo=UTC)
    assert snap.crm.contracts is not None
    contract = snap.crm.contracts[0]
    contract.status, contract.ended_on = "Terminated", date(2026, 11, 19)  # what the lifecycle writes
    assert compare(snap) == []
    contract.ended_on = date(2026, 11, 18)
    mismatch = only(snap)
    assert mismatch.kind is MismatchKind.CONTRACT_END_DIFFERS
    assert mismatch.found == "C2C_Ended_On__c 2026-11-18"


def test_a_cancellation_at_period_end_recorded_on_the_still_active_contract_agrees() -> None:
    snap = periods_estate()
    snap.billing.subscriptions[1].cancel_at = datetime(2027, 1, 27, 10, 23, tzinfo=UTC)  # a period end
    assert snap.crm.contracts is not None
    snap.crm.contracts[1].ended_on = date(2027, 1, 27)
    assert compare(snap) == []


def test_a_won_change_to_a_contract_is_not_a_deal_missing_its_saga() -> None:
    snap = periods_estate()
    change = snap.crm.deals[0].model_copy(update={"deal_id": "D1-UPSELL", "contract_id": "800000000000001"})
    snap.crm.deals.append(change)
    assert compare(snap) == []


def test_a_term_ending_at_its_start_time_of_day_agrees_with_the_contract_ending_the_day_before() -> None:
    """Chargebee's term (and Stripe's outside a midnight test clock) ends at the subscription's time of day on its
    anniversary: the contract, in whole days from the close date, ends the day before."""
    snap = periods_estate()
    subscription = snap.billing.subscriptions[1]
    subscription.cancel_at = datetime(2027, 10, 27, 14, 32, tzinfo=UTC)  # non_renewing: its last term
    assert compare(snap) == []
    subscription.cancel_at = datetime(2027, 10, 28, 14, 32, tzinfo=UTC)  # a day later: not the contract's term
    mismatch = only(snap)
    assert (mismatch.kind, mismatch.found) == (MismatchKind.CONTRACT_END_DIFFERS, "EndDate 2027-10-26")
    assert mismatch.expected.startswith("EndDate 2027-10-27")
