"""One CRM's share of billing (reconcile/scope.py) on a hand-made snapshot holding two CRMs' records: each record
goes to the CRM the workflow id c2c wrote on it (or on its subscription's invoices) names; what names no CRM stays
in both runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from canonical import Money
from canonical.records import BillingCreditNote, BillingInvoice, BillingSnapshot, BillingSubscription
from canonical.refunds import BillingRefund
from reconcile.scope import crm_of_workflow, of_crm

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def invoice(invoice_id: str, subscription_id: str | None, saga_id: str | None, hours: int = 0) -> BillingInvoice:
    return BillingInvoice(
        invoice_id=invoice_id,
        subscription_id=subscription_id,
        customer_id="cus_1",
        saga_id=saga_id,
        status="open",
        currency="USD",
        total=100,
        tax=0,
        amount_paid=0,
        created=T0 + timedelta(hours=hours),
    )


def subscription(subscription_id: str, deal_id: str) -> BillingSubscription:
    return BillingSubscription(
        subscription_id=subscription_id, deal_id=deal_id, customer_id="cus_1", status="active", created=T0
    )


def note(credit_note_id: str, invoice_id: str, key: str | None = None) -> BillingCreditNote:
    return BillingCreditNote(
        credit_note_id=credit_note_id,
        invoice_id=invoice_id,
        status="issued",
        currency="USD",
        total=10,
        key=key,
        created=T0,
    )


def refund(refund_id: str, invoice_id: str) -> BillingRefund:
    return BillingRefund(
        refund_id=refund_id,
        invoice_id=invoice_id,
        amount=Money(amount=100, currency="USD"),
        status="succeeded",
        created_at=T0,
    )


def two_crms() -> BillingSnapshot:
    return BillingSnapshot(
        subscriptions=[
            subscription("sub_sf", "006A"),  # its first period (the saga's) and a later one are in the read
            subscription("sub_hs", "9001"),  # only later periods in the read (created before the window)
            subscription("sub_x", "X1"),  # nothing on it names a workflow
        ],
        invoices=[
            invoice("in_sf_1", "sub_sf", "c2c:salesforce:006A"),
            invoice("in_sf_2", "sub_sf", "c2c:salesforce:006A:subscription", hours=1),
            invoice("in_hs_2", "sub_hs", "c2c:hubspot:9001:subscription", hours=1),
            invoice("in_hs_mid", "sub_hs", None, hours=2),  # billing's own mid-period invoice: its subscription's
            invoice("in_x", "sub_x", None),
        ],
        credit_notes=[
            note("cn_hs", "in_hs_2"),
            note("cn_sf_key", "in_outside_the_read", key="c2c:salesforce:006A:subscription:p3:credit"),
            note("cn_hs_key", "in_outside_the_read", key="c2c:hubspot:9001:subscription:p3:credit"),
            note("cn_x", "in_x"),
        ],
        refunds=[refund("re_sf", "in_sf_1"), refund("re_hs", "in_hs_2"), refund("re_x", "in_unknown")],
    )


def ids_of(billing: BillingSnapshot) -> tuple[list[str], list[str], list[str], list[str]]:
    return (
        [s.subscription_id for s in billing.subscriptions],
        [i.invoice_id for i in billing.invoices],
        [n.credit_note_id for n in billing.credit_notes],
        [r.refund_id for r in billing.refunds or []],
    )


def test_each_crm_keeps_its_own_records_and_those_naming_no_crm() -> None:
    billing = two_crms()

    assert ids_of(of_crm(billing, "salesforce")) == (
        ["sub_sf", "sub_x"],
        ["in_sf_1", "in_sf_2", "in_x"],
        ["cn_sf_key", "cn_x"],
        ["re_sf", "re_x"],
    )
    assert ids_of(of_crm(billing, "hubspot")) == (
        ["sub_hs", "sub_x"],
        ["in_hs_2", "in_hs_mid", "in_x"],
        ["cn_hs", "cn_hs_key", "cn_x"],
        ["re_hs", "re_x"],
    )
    assert ids_of(billing)[1] == ["in_sf_1", "in_sf_2", "in_hs_2", "in_hs_mid", "in_x"]  # the input is left as read


def test_a_run_that_did_not_read_refunds_still_did_not() -> None:
    billing = two_crms().model_copy(update={"refunds": None})
    assert of_crm(billing, "hubspot").refunds is None


def test_only_a_deals_workflow_id_names_a_crm() -> None:
    assert crm_of_workflow("c2c:hubspot:9001") == "hubspot"
    assert crm_of_workflow("c2c:salesforce:006A:subscription") == "salesforce"
    assert crm_of_workflow("c2c:salesforce:006A:subscription:p2:invoice") == "salesforce"
    for other in (None, "", "c2c:customer:G1", "c2c:refund:in_1:r1:credit", "c2c:usage:e1", "c2c:hubspot", "x:y:z"):
        assert crm_of_workflow(other) is None
