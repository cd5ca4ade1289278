"""The KPIs on hand-made snapshots, against their written definitions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from canonical import Address
from canonical.records import CrmAccount, CustomerFields
from reconcile.kpis import compute, percentile
from tests.support.snapshots import NOW, estate


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [([], 50, None), ([7.0], 95, 7.0), ([1.0, 2.0, 3.0, 4.0], 50, 2.0), ([float(n) for n in range(1, 21)], 95, 19.0)],
)
def test_percentiles_are_nearest_rank(values: list[float], p: float, expected: float | None) -> None:
    assert percentile(values, p) == expected


def test_posting_latency_is_erp_created_minus_billing_finalized() -> None:
    latency = compute(estate(4)).invoice_posting_latency  # 1, 2, 3 and 4 seconds
    assert (latency.samples, latency.p50_seconds, latency.p95_seconds) == (4, 2.0, 4.0)


def test_clock_skew_never_makes_a_negative_latency() -> None:
    snap = estate(1)
    snap.erp.invoices[0] = snap.erp.invoices[0].model_copy(update={"created_at": NOW - timedelta(days=30)})
    assert compute(snap).invoice_posting_latency.p50_seconds == 0.0


def test_payment_application_counts_payments_applied_in_full() -> None:
    snap = estate(4)
    snap.erp.payments[0] = snap.erp.payments[0].model_copy(update={"applied": {"1001": 5}})
    snap.erp.payments = snap.erp.payments[:3]
    rate = compute(snap).payment_application
    assert (rate.numerator, rate.denominator, rate.rate) == (2, 4, 0.5)


def test_no_settled_payment_gives_no_rate_rather_than_zero() -> None:
    snap = estate(2)
    for n, invoice in enumerate(snap.billing.invoices):
        snap.billing.invoices[n] = invoice.model_copy(update={"status": "open", "amount_paid": 0})
    rate = compute(snap).payment_application
    assert (rate.denominator, rate.rate) == (0, None)


def test_customer_sync_names_golden_customers_whose_fields_differ() -> None:
    snap = estate(4)
    snap.billing.customers[0] = snap.billing.customers[0].model_copy(
        update={"fields": snap.billing.customers[0].fields.model_copy(update={"name": "Someone Else"})}
    )
    moved = Address(line1="2 Other St", city="Austin", region="TX", postal_code="78701", country="US")
    snap.erp.customers[1] = snap.erp.customers[1].model_copy(
        update={"fields": snap.erp.customers[1].fields.model_copy(update={"address": moved})}
    )
    snap.erp.customers = [c for c in snap.erp.customers if c.golden_id != "gc_3"]
    sync = compute(snap).customer_master_sync
    assert (sync.numerator, sync.denominator, sync.rate) == (1, 4, 0.25)
    assert [(d.golden_id, d.fields) for d in sync.disagreeing] == [
        ("gc_1", ["name"]),
        ("gc_2", ["address"]),
        ("gc_3", ["missing in erp"]),
    ]


def test_customer_sync_ignores_case_spacing_and_tax_id_punctuation() -> None:
    snap = estate(1)
    fields = snap.erp.customers[0].fields
    snap.erp.customers[0] = snap.erp.customers[0].model_copy(
        update={"fields": fields.model_copy(update={"name": "  customer 1   INC. ", "tax_id": "us940000001"})}
    )
    assert compute(snap).customer_master_sync.rate == 1.0


def test_a_duplicate_crm_account_that_agrees_keeps_the_customer_in_sync() -> None:
    snap = estate(1)
    snap.crm.accounts[0] = snap.crm.accounts[0].model_copy(update={"fields": CustomerFields(name="ACME Corporation")})
    twin = CrmAccount(account_id="A1b", golden_id="gc_1", fields=snap.billing.customers[0].fields)
    snap.crm.accounts.append(twin)
    assert compute(snap).customer_master_sync.rate == 1.0


def test_period_counts_name_each_entitys_erp() -> None:
    from reconcile.kpis import compute
    from tests.support.snapshots import estate

    snap = estate(2)
    snap.billing.invoices[0] = snap.billing.invoices[0].model_copy(update={"legal_entity": "US01"})
    snap.billing.invoices[1] = snap.billing.invoices[1].model_copy(update={"legal_entity": "UK01"})
    snap.erp.erp_by_entity = {"US01": "netsuite", "UK01": "xero"}
    counts = {row.legal_entity: row.erp for row in compute(snap).periods}
    assert counts == {"US01": "netsuite", "UK01": "xero"}
