"""The comparison on hand-made snapshots: a consistent estate has no mismatch; each planted break is found once,
with its kind, system and deal, and only the safe kinds carry a repair."""

from __future__ import annotations

from datetime import timedelta

from canonical.records import BillingCustomer, BillingSubscription, ErpInvoice, SagaRecord, Snapshots
from reconcile.compare import Mismatch, MismatchKind, RepairAction, compare
from tests.support.snapshots import NOW, estate


def found(snap: Snapshots) -> list[tuple[MismatchKind, str, str]]:
    return [(m.kind, m.system, m.subject) for m in compare(snap)]


def only(snap: Snapshots) -> Mismatch:
    [mismatch] = compare(snap)
    return mismatch


def test_a_consistent_estate_has_no_mismatch() -> None:
    assert compare(estate(5)) == []


def test_a_closed_won_deal_without_a_saga_is_missing_saga_and_may_be_started() -> None:
    snap = estate()
    snap.sagas.sagas = [s for s in snap.sagas.sagas if s.deal_id != "D2"]
    mismatch = only(snap)
    assert (mismatch.kind, mismatch.system, mismatch.deal_id) == (MismatchKind.MISSING_SAGA, "c2c", "D2")
    assert (mismatch.saga_id, mismatch.repair) == ("c2c:salesforce:D2", RepairAction.START_SAGA)


def test_a_saga_parked_unavailable_is_stuck_and_may_be_resumed() -> None:
    snap = estate()
    snap.sagas.sagas[0] = snap.sagas.sagas[0].model_copy(
        update={"status": "RUNNING", "stage": "needs_attention", "exception": "unavailable"}
    )
    mismatch = only(snap)
    assert (mismatch.kind, mismatch.deal_id, mismatch.repair) == (MismatchKind.STUCK, "D1", RepairAction.RESUME_SAGA)


def test_sagas_waiting_by_design_are_not_mismatches() -> None:
    snap = estate(4)
    for n, (stage, exception) in enumerate(
        [("needs_attention", "invalid_address"), ("settle", None), ("dunning", None), ("onboard", None)]
    ):
        snap.sagas.sagas[n] = snap.sagas.sagas[n].model_copy(
            update={"status": "RUNNING", "stage": stage, "exception": exception, "started_at": NOW}
        )
    assert compare(snap) == []


def test_a_saga_running_too_long_outside_a_wait_is_stuck_without_a_repair() -> None:
    snap = estate()
    snap.sagas.sagas[2] = snap.sagas.sagas[2].model_copy(
        update={"status": "RUNNING", "stage": "post", "started_at": NOW - timedelta(hours=3)}
    )
    mismatch = only(snap)
    assert (mismatch.kind, mismatch.deal_id, mismatch.repair) == (MismatchKind.STUCK, "D3", None)
    assert "post" in mismatch.found


def test_a_terminated_saga_is_reported_as_failed() -> None:
    snap = estate()
    snap.sagas.sagas[0] = snap.sagas.sagas[0].model_copy(update={"status": "TERMINATED", "stage": "post"})
    assert found(snap) == [(MismatchKind.SAGA_FAILED, "c2c", "D1")]


def test_a_cancelled_saga_needs_nothing_in_the_other_systems() -> None:
    snap = estate()
    snap.sagas.sagas[0] = snap.sagas.sagas[0].model_copy(update={"stage": "cancelled"})
    snap.billing.invoices = [i for i in snap.billing.invoices if i.invoice_id != "in_1"]
    assert compare(snap) == []


def test_a_completed_saga_with_nothing_in_billing_is_missing_in_billing() -> None:
    snap = estate()
    snap.billing.subscriptions = [s for s in snap.billing.subscriptions if s.deal_id != "D3"]
    snap.billing.invoices = [i for i in snap.billing.invoices if i.invoice_id != "in_3"]
    assert found(snap) == [(MismatchKind.MISSING_IN_BILLING, "stripe", "D3")]


def test_an_unpaid_invoice_of_a_completed_saga_is_missing_in_billing() -> None:
    snap = estate()
    snap.billing.invoices[0] = snap.billing.invoices[0].model_copy(update={"status": "open"})
    assert found(snap) == [(MismatchKind.MISSING_IN_BILLING, "stripe", "D1")]


def test_a_billing_invoice_not_in_the_erp_is_missing_in_erp() -> None:
    snap = estate()
    snap.erp.invoices = [e for e in snap.erp.invoices if e.external_id != "in_2"]
    mismatch = only(snap)  # the payment is not also reported: there is no ERP invoice to apply it to
    assert (mismatch.kind, mismatch.system, mismatch.deal_id, mismatch.repair) == (
        MismatchKind.MISSING_IN_ERP,
        "netsuite",
        "D2",
        None,
    )


def test_a_missing_or_uncommitted_tax_document_is_missing_tax_document() -> None:
    snap = estate()
    snap.tax.documents[0] = snap.tax.documents[0].model_copy(update={"status": "Cancelled"})
    snap.tax.documents = [d for d in snap.tax.documents if d.code != "c2c-salesforce-D2"]
    assert found(snap) == [
        (MismatchKind.MISSING_TAX_DOCUMENT, "avatax", "D1"),
        (MismatchKind.MISSING_TAX_DOCUMENT, "avatax", "D2"),
    ]
    assert compare(snap)[0].found == "Cancelled"


def test_tax_findings_name_the_entitys_configured_tax_engine() -> None:
    """Not a hard-coded vendor: the entity's tax engine as the run's configuration names it (TaxSnapshot), the
    default's when the run carried none."""
    snap = estate(3)
    snap.tax.tax_by_entity = {"US01": "vertex", "DE01": "avatax"}
    # D1's entity from its invoice (its document is gone), D2's from its document's company code.
    snap.billing.invoices[0] = snap.billing.invoices[0].model_copy(update={"legal_entity": "US01"})
    snap.tax.documents = [d for d in snap.tax.documents if d.code != "c2c-salesforce-D1"]
    snap.tax.documents[0] = snap.tax.documents[0].model_copy(update={"total_tax": 1})
    assert found(snap) == [
        (MismatchKind.MISSING_TAX_DOCUMENT, "vertex", "D1"),
        (MismatchKind.AMOUNT_DIFFERS, "vertex", "D2"),
    ]
    snap.tax.tax_by_entity = {}
    assert {m.system for m in compare(snap)} == {"avatax"}


def test_amounts_that_differ_name_the_system_that_differs() -> None:
    snap = estate(3)
    snap.crm.deals[0] = snap.crm.deals[0].model_copy(update={"amount": 1200_00})
    snap.tax.documents[1] = snap.tax.documents[1].model_copy(update={"total_tax": 1})
    snap.erp.invoices[2] = snap.erp.invoices[2].model_copy(update={"total": 1})
    assert found(snap) == [
        (MismatchKind.AMOUNT_DIFFERS, "stripe", "D1"),
        (MismatchKind.AMOUNT_DIFFERS, "avatax", "D2"),
        (MismatchKind.AMOUNT_DIFFERS, "netsuite", "D3"),
    ]
    assert compare(snap)[0].expected == "USD 1,200.00 before tax (CRM)"
    assert all(m.repair is None for m in compare(snap))  # never repaired automatically


def test_a_payment_missing_or_partly_applied_in_the_erp_is_unapplied() -> None:
    snap = estate()
    snap.erp.payments = [p for p in snap.erp.payments if p.external_id != "pi_1"]
    snap.erp.payments[0] = snap.erp.payments[0].model_copy(update={"applied": {"1002": 1}})
    assert found(snap) == [
        (MismatchKind.PAYMENT_UNAPPLIED, "netsuite", "D1"),
        (MismatchKind.PAYMENT_UNAPPLIED, "netsuite", "D2"),
    ]
    assert compare(snap)[1].found == "USD 0.01 applied to ERP invoice 1002"


def test_an_invoice_settled_by_credit_notes_needs_no_erp_payment() -> None:
    snap = estate()
    snap.billing.invoices[0] = snap.billing.invoices[0].model_copy(update={"amount_paid": 0, "payment_id": None})
    snap.erp.payments = snap.erp.payments[1:]
    assert compare(snap) == []


def test_duplicates_in_billing_and_the_erp_are_found_and_never_repaired() -> None:
    snap = estate(3)
    snap.billing.subscriptions.append(
        BillingSubscription(subscription_id="sub_1b", deal_id="D1", customer_id="cus_1", status="active", created=NOW)
    )
    snap.erp.invoices.append(
        ErpInvoice(internal_id="1999", reference="INV-0002", currency="USD", total=1, amount_remaining=1)
    )
    snap.billing.customers.append(BillingCustomer(customer_id="cus_3b", golden_id="gc_3"))
    mismatches = compare(snap)
    assert [(m.kind, m.system, m.subject) for m in mismatches] == [
        (MismatchKind.DUPLICATE, "stripe", "D1"),
        (MismatchKind.DUPLICATE, "netsuite", "D2"),
        (MismatchKind.DUPLICATE, "stripe", "gc_3"),
    ]
    assert mismatches[2].deal_id is None
    assert all(m.repair is None for m in mismatches)


def test_a_saga_known_only_to_the_store_is_still_checked() -> None:
    snap = estate()
    snap.sagas.sagas[0] = SagaRecord(
        workflow_id="c2c:salesforce:D1", deal_id="D1", status="COMPLETED", stage="completed", source="store"
    )
    snap.erp.invoices = snap.erp.invoices[1:]
    assert found(snap) == [(MismatchKind.MISSING_IN_ERP, "netsuite", "D1")]


def test_an_erp_finding_names_the_erp_the_invoices_entity_books_in() -> None:
    snap = estate(3)
    snap.billing.invoices[1] = snap.billing.invoices[1].model_copy(update={"legal_entity": "UK01"})
    snap.erp.erp_by_entity = {"US01": "netsuite", "UK01": "xero"}
    snap.erp.invoices = [e for e in snap.erp.invoices if e.external_id != "in_2"]
    snap.erp.payments = [p for p in snap.erp.payments if p.external_id != "pi_3"]
    assert found(snap) == [
        (MismatchKind.MISSING_IN_ERP, "xero", "D2"),
        (MismatchKind.PAYMENT_UNAPPLIED, "netsuite", "D3"),
    ]
