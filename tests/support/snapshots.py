"""Hand-made snapshots: a consistent estate of completed deals that each test then breaks in one place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from canonical import Address
from canonical.records import (
    BillingCustomer,
    BillingInvoice,
    BillingSnapshot,
    BillingSubscription,
    CrmAccount,
    CrmDeal,
    CrmSnapshot,
    CustomerFields,
    ErpCustomer,
    ErpInvoice,
    ErpPayment,
    ErpSnapshot,
    SagaRecord,
    SagaSnapshot,
    Snapshots,
    TaxDocument,
    TaxSnapshot,
)

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=35)
ADDRESS = Address(line1="1 Infinite Loop", city="Cupertino", region="CA", postal_code="95014", country="US")


def fields(n: int) -> CustomerFields:
    return CustomerFields(name=f"Customer {n} Inc.", address=ADDRESS, tax_id=f"US-94-{n:07d}")


def estate(deals: int = 3, *, subtotal: int = 1000_00, tax: int = 90_00) -> Snapshots:
    """`deals` completed deals of distinct customers, every system in agreement; deal ids D1, D2, ..."""
    crm, sagas, billing, taxes, erp = CrmSnapshot(), SagaSnapshot(), BillingSnapshot(), TaxSnapshot(), ErpSnapshot()
    for n in range(1, deals + 1):
        deal, golden, closed = f"D{n}", f"gc_{n}", NOW - timedelta(days=n)
        crm.deals.append(
            CrmDeal(
                deal_id=deal,
                account_id=f"A{n}",
                legal_entity="US01",
                currency="USD",
                amount=subtotal,
                close_date=closed.date(),
                modified_at=closed,
            )
        )
        crm.accounts.append(CrmAccount(account_id=f"A{n}", golden_id=golden, fields=fields(n), modified_at=closed))
        sagas.sagas.append(
            SagaRecord(
                workflow_id=f"c2c:salesforce:{deal}",
                deal_id=deal,
                status="COMPLETED",
                stage="completed",
                started_at=closed,
                closed_at=closed + timedelta(minutes=1),
            )
        )
        billing.customers.append(BillingCustomer(customer_id=f"cus_{n}", golden_id=golden, fields=fields(n)))
        billing.subscriptions.append(
            BillingSubscription(
                subscription_id=f"sub_{n}", deal_id=deal, customer_id=f"cus_{n}", status="active", created=closed
            )
        )
        billing.invoices.append(
            BillingInvoice(
                invoice_id=f"in_{n}",
                number=f"INV-{n:04d}",
                subscription_id=f"sub_{n}",
                customer_id=f"cus_{n}",
                saga_id=f"c2c:salesforce:{deal}",
                status="paid",
                currency="USD",
                total=subtotal + tax,
                tax=tax,
                amount_paid=subtotal + tax,
                payment_id=f"pi_{n}",
                tax_document_code=f"c2c-salesforce-{deal}",
                created=closed,
                finalized_at=closed + timedelta(seconds=10),
                paid_at=closed + timedelta(seconds=20),
            )
        )
        taxes.documents.append(
            TaxDocument(
                company_code="US01", code=f"c2c-salesforce-{deal}", status="Committed", currency="USD", total_tax=tax
            )
        )
        erp.invoices.append(
            ErpInvoice(
                internal_id=str(1000 + n),
                external_id=f"in_{n}",
                reference=f"INV-{n:04d}",
                customer_id=str(500 + n),
                currency="USD",
                total=subtotal + tax,
                amount_remaining=0,
                status="Paid In Full",
                created_at=closed + timedelta(seconds=10 + n),  # latencies 1, 2, 3, ... seconds
            )
        )
        erp.payments.append(
            ErpPayment(
                internal_id=str(2000 + n),
                external_id=f"pi_{n}",
                currency="USD",
                amount=subtotal + tax,
                applied={str(1000 + n): subtotal + tax},
            )
        )
        erp.customers.append(
            ErpCustomer(
                internal_id=str(500 + n),
                external_id=f"{golden}-US01",
                golden_id=golden,
                legal_entity="US01",
                fields=fields(n),
            )
        )
    return Snapshots(since=SINCE, taken_at=NOW, crm=crm, sagas=sagas, billing=billing, tax=taxes, erp=erp)
