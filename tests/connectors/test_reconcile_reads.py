"""The connectors' reconciliation reads against dedicated emulators over real HTTP: filters, every page, and the
vendor records mapped to snapshot records (minor units, ids, timestamps)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from canonical import Address, Payment, PaymentStatus
from canonical.reference import LEGAL_ENTITIES
from connectors.avatax import client as avatax_client
from connectors.avatax.client import AvaTaxEngine
from connectors.netsuite import client as netsuite_client
from connectors.salesforce import SalesforceCrm
from connectors.stripe import StripeBilling
from connectors.stripe import reads as stripe_reads
from estate.book import ACME, ACME_DUP, GLOBEX, DealSpec
from estate.deals import seed_deal
from sandbox.server import build_app
from tests.support.avatax import ACCOUNT_ID, LICENSE_KEY, tax_request
from tests.support.netsuite import erp_connector, netsuite_app
from tests.support.servers import Serve
from tests.support.stripe import API_KEY, make_customer, make_invoice, open_invoice


def before(seconds: int = 5) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


# ---- Salesforce -----------------------------------------------------------------------------------------------


async def test_closed_won_deals_are_those_modified_since_across_pages(
    http: httpx.AsyncClient, own_server: Serve
) -> None:
    url = own_server(build_app("salesforce", query_batch_size=2)).url
    crm = SalesforceCrm(http, url, "c2c", "sandbox-secret")
    open_deal = await seed_deal(crm, DealSpec("OPEN", ACME, "US01", "USD", [("PLAT-SEAT", 2, Decimal("49.00"))]))
    won = [
        await seed_deal(
            crm, DealSpec(f"WON-{n}", GLOBEX, "US01", "USD", [("PLAT-SEAT", n, Decimal("49.00"))]), close=True
        )
        for n in range(1, 4)
    ]
    deals = await crm.closed_won_deals(before())
    assert sorted(d.deal_id for d in deals) == sorted(won)
    assert open_deal not in {d.deal_id for d in deals}
    first = next(d for d in deals if d.deal_id == won[0])
    assert (first.currency, first.amount, first.legal_entity, first.close_date) == (
        "USD",
        49_00,
        "US01",
        datetime.now(UTC).date(),  # the book's deals close today
    )
    assert await crm.closed_won_deals(datetime.now(UTC) + timedelta(minutes=1)) == []


async def test_accounts_include_every_account_of_the_golden_customers(
    http: httpx.AsyncClient, own_server: Serve
) -> None:
    url = own_server(build_app("salesforce")).url
    crm = SalesforceCrm(http, url, "c2c", "sandbox-secret")
    ids = {}
    for spec in (ACME, ACME_DUP, GLOBEX):
        fields = {
            "Name": spec.name,
            "BillingStreet": spec.street,
            "BillingCity": spec.city,
            "BillingState": spec.state,
            "BillingPostalCode": spec.postal_code,
            "BillingCountry": spec.country,
            "Tax_Id__c": spec.tax_id,
        }
        ids[spec.key] = await crm.upsert("Account", "External_Key__c", spec.key, fields)
    await crm.write_back_account(ids["acme"], {"golden_id": "gc_acme"})
    await crm.write_back_account(ids["acme-emea"], {"golden_id": "gc_acme"})
    accounts = await crm.accounts([ids["acme"]], ["gc_acme"])
    assert sorted(a.account_id for a in accounts) == sorted([ids["acme"], ids["acme-emea"]])
    acme = next(a for a in accounts if a.account_id == ids["acme"])
    assert (acme.golden_id, acme.fields.name, acme.fields.tax_id) == ("gc_acme", "Acme Corp", "US-94-1111111")
    assert acme.fields.address == Address(
        line1="1 Infinite Loop", city="Cupertino", region="CA", postal_code="95014", country="US"
    )
    assert await crm.accounts([], []) == []


# ---- Stripe ---------------------------------------------------------------------------------------------------


async def test_invoices_and_subscriptions_are_read_page_by_page(
    http: httpx.AsyncClient, own_server: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stripe_reads, "LIST_PAGE", 1)
    url = own_server(build_app("stripe")).url
    billing = StripeBilling(http, url, API_KEY)
    opened = [await open_invoice(billing, f"k{n}", make_customer(f"gc_{n}")) for n in range(3)]
    invoices = await billing.invoices_created_since(before())
    assert sorted(i.invoice_id for i in invoices) == sorted(inv.external_refs["stripe"] for _, inv in opened)
    invoice = next(i for i in invoices if i.invoice_id == opened[0][1].external_refs["stripe"])
    assert (invoice.status, invoice.currency, invoice.tax, invoice.total) == (
        "open",
        "USD",
        68_70,
        10 * 49_00 + 199_00 + 68_70,
    )
    assert (invoice.tax_document_code, invoice.customer_id) == ("c2c-006DEAL1-1", opened[0][0])
    assert invoice.finalized_at is not None
    subscriptions = await billing.subscriptions_created_since(before())
    assert len(subscriptions) == 3
    assert {s.deal_id for s in subscriptions} == {"006DEAL1"}
    assert await billing.invoices_created_since(datetime.now(UTC) + timedelta(minutes=1)) == []


async def test_customers_of_golden_ids_carry_their_master_data(http: httpx.AsyncClient, own_server: Serve) -> None:
    url = own_server(build_app("stripe")).url
    billing = StripeBilling(http, url, API_KEY)
    first = await billing.upsert_customer(make_customer("gc_twice", tax_id="US-1"), idempotency_key="a")
    # A duplicate made outside c2c (the connector itself finds the golden id's customer before creating one).
    twin = {"name": "Acme Corp", "metadata[golden_id]": "gc_twice"}
    created = await http.post(f"{url}/v1/customers", data=twin, headers={"Authorization": f"Bearer {API_KEY}"})
    second = created.json()["id"]
    await billing.upsert_customer(make_customer("gc_other"), idempotency_key="c")
    customers = await billing.customers_of(["gc_twice"])
    assert sorted(c.customer_id for c in customers) == sorted([first, second])
    mine = next(c for c in customers if c.customer_id == first)
    assert (mine.golden_id, mine.fields.name, mine.fields.tax_id) == ("gc_twice", "Acme Corp", "US-1")
    assert mine.fields.address is not None
    assert mine.fields.address.city == "Austin"


# ---- AvaTax ---------------------------------------------------------------------------------------------------


async def test_tax_documents_since_a_date_are_read_page_by_page(
    http: httpx.AsyncClient, own_server: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(avatax_client, "PAGE_SIZE", 2)
    url = own_server(build_app("avatax")).url
    engine = AvaTaxEngine(http, url, ACCOUNT_ID, LICENSE_KEY)
    home = LEGAL_ENTITIES["US01"].address
    old = tax_request("US01", home, "USD", [100_00], code="old-doc")
    await engine.quote(old.model_copy(update={"date": date(2020, 1, 1)}))
    codes = []
    for n in range(5):
        request = tax_request("US01", home, "USD", [100_00 + n], code=f"doc-{n}")
        await engine.quote(request.model_copy(update={"date": date(2026, 11, 1)}))
        codes.append(request.document_code)
    await engine.commit("US01", "doc-0")
    documents = await engine.documents_since(["US01", "DE01"], date(2026, 10, 1))
    assert sorted(d.code for d in documents) == sorted(codes)
    doc0 = next(d for d in documents if d.code == "doc-0")
    assert (doc0.status, doc0.currency, doc0.company_code) == ("Committed", "USD", "US01")
    assert doc0.total_tax > 0


# ---- NetSuite -------------------------------------------------------------------------------------------------


async def test_erp_invoices_payments_and_customers_are_read_back(
    http: httpx.AsyncClient, own_server: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(netsuite_client, "LIST_PAGE", 1)
    url = own_server(netsuite_app()).url
    erp = erp_connector(http, url)
    entity = LEGAL_ENTITIES["US01"]
    customer = make_customer("gc_ns", tax_id="US-94-2")
    customer_id = await erp.upsert_customer(customer, entity, "USD")
    posted = []
    for n in range(2):
        invoice = make_invoice().model_copy(update={"external_refs": {"stripe": f"in_{n}"}, "number": f"NUM-{n}"})
        posted.append(await erp.post_invoice(invoice, customer_id))
    total = make_invoice().total
    payment = Payment(invoice_id="in_0", amount=total, status=PaymentStatus.SUCCEEDED, external_refs={"stripe": "pi_0"})
    await erp.apply_payment(payment, customer_id, posted[0])

    today = datetime.now(UTC).date()  # the emulator stamps records in UTC
    invoices = await erp.invoices_modified_since(today)
    assert [(i.internal_id, i.external_id, i.reference) for i in invoices] == [
        (posted[0], "in_0", "NUM-0"),
        (posted[1], "in_1", "NUM-1"),
    ]
    assert (invoices[0].total, invoices[0].amount_remaining, invoices[1].amount_remaining) == (
        total.amount,
        0,
        total.amount,
    )
    assert invoices[0].created_at is not None
    assert invoices[0].created_at.tzinfo is not None
    [applied] = await erp.payments_modified_since(today)
    assert (applied.external_id, applied.amount, applied.applied) == ("pi_0", total.amount, {posted[0]: total.amount})
    assert await erp.invoices_modified_since(today + timedelta(days=1)) == []

    [found] = await erp.customers_by_external_id(["gc_ns-US01", "gc_missing-US01"])
    assert (found.golden_id, found.legal_entity, found.fields.name, found.fields.tax_id) == (
        "gc_ns",
        "US01",
        "Acme Corp",
        "US-94-2",
    )
    assert found.fields.address == customer.address
