"""Refunds in billing vs the ERP on hand-made snapshots: each c2c refund (finance's, the dashboard's) with its ERP
customer refund is consistent; a planted refund with no ERP customer refund, and one booked for another amount, are
each found once naming the refund; what c2c does not book as a customer refund is left out."""

from __future__ import annotations

from datetime import timedelta

from canonical import Money
from canonical.records import Snapshots
from canonical.refunds import BillingRefund, ErpRefund
from reconcile.compare import MismatchKind, compare
from tests.support.snapshots import NOW, estate

DAY_OLD = NOW - timedelta(days=1)


def refund(refund_id: str, invoice_id: str, amount: int, *, key: str | None = None, **extra: object) -> BillingRefund:
    fields: dict[str, object] = {
        "refund_id": refund_id,
        "invoice_id": invoice_id,
        "amount": Money(amount=amount, currency="USD"),
        "status": "succeeded",
        "created_at": DAY_OLD,
        "credit_note_id": f"cn_{refund_id}" if key else None,
        "c2c_key": key,
    }
    return BillingRefund.model_validate({**fields, **extra})


def booked(refund_id: str, amount: int, erp_id: str) -> ErpRefund:
    return ErpRefund(external_id=refund_id, erp_id=erp_id, amount=Money(amount=amount, currency="USD"))


def with_refunds() -> Snapshots:
    """Finance's refund of in_1 (through c2c's credit note) and a dashboard refund of in_2, both in the ERP."""
    snap = estate(3)
    snap.billing.refunds = [
        refund("re_fin", "in_1", 100_00, key="c2c:refund:in_1:k1:credit"),
        refund("re_dash", "in_2", 25_00),
    ]
    snap.erp.refunds = [booked("re_fin", 100_00, "7001"), booked("re_dash", 25_00, "7002")]
    return snap


def test_refunds_booked_in_the_erp_are_consistent() -> None:
    assert compare(with_refunds()) == []


def test_a_refund_with_no_erp_customer_refund_is_missing_in_the_erp() -> None:
    snap = with_refunds()
    assert snap.erp.refunds is not None
    snap.erp.refunds = [r for r in snap.erp.refunds if r.external_id != "re_dash"]
    [mismatch] = compare(snap)
    assert (mismatch.kind, mismatch.system, mismatch.deal_id) == (MismatchKind.MISSING_REFUND_IN_ERP, "netsuite", "D2")
    assert (mismatch.refund_id, mismatch.invoice_id, mismatch.found) == ("re_dash", "in_2", "none")
    assert mismatch.saga_id == "c2c:refund:in_2:re_dash"
    assert "USD 25.00" in mismatch.expected
    assert mismatch.repair is None
    assert mismatch.key == "missing_refund_in_erp:netsuite:D2:re_dash"


def test_a_refund_missing_in_the_erp_names_the_erp_its_invoices_entity_books_in() -> None:
    """A UK01 invoice billed on Chargebee, booked in Xero: the refund it is missing is Xero's, not NetSuite's."""
    snap = with_refunds()
    snap.billing.invoices[1] = snap.billing.invoices[1].model_copy(update={"legal_entity": "UK01"})
    snap.billing.billing_by_entity = {"US01": "stripe", "UK01": "chargebee"}
    snap.erp.erp_by_entity = {"US01": "netsuite", "UK01": "xero"}
    snap.erp.refunds = [booked("re_fin", 100_00, "7001")]
    [mismatch] = compare(snap)
    assert (mismatch.kind, mismatch.system, mismatch.refund_id) == (
        MismatchKind.MISSING_REFUND_IN_ERP,
        "xero",
        "re_dash",
    )


def test_a_refund_booked_for_another_amount_differs() -> None:
    snap = with_refunds()
    snap.erp.refunds = [booked("re_fin", 90_00, "7001"), booked("re_dash", 25_00, "7002")]
    [mismatch] = compare(snap)
    assert (mismatch.kind, mismatch.deal_id, mismatch.refund_id) == (MismatchKind.REFUND_DIFFERS, "D1", "re_fin")
    assert (mismatch.erp_id, mismatch.saga_id) == ("7001", "c2c:refund:in_1:k1")
    assert "USD 100.00" in mismatch.expected
    assert "USD 90.00" in mismatch.found


def test_refunds_c2c_does_not_book_as_customer_refunds_are_left_out() -> None:
    snap = with_refunds()
    assert snap.billing.refunds is not None
    snap.billing.refunds += [
        refund("re_failed", "in_3", 5_00, status="failed"),  # no money moved
        refund("re_new", "in_3", 5_00, created_at=NOW - timedelta(minutes=5)),  # its workflow may still be booking
        refund("re_other", "in_elsewhere", 5_00),  # an invoice c2c did not bill
        refund("re_cancel", "in_3", 5_00, key="c2c:salesforce:D3:subscription:p2:cancel"),  # a cancellation's credit
    ]
    assert compare(snap) == []


def test_a_run_that_did_not_read_refunds_finds_nothing_about_them() -> None:
    snap = with_refunds()
    snap.erp.refunds = None
    assert compare(snap) == []
