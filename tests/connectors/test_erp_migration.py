"""An entity moving from NetSuite to Xero (activities/migration.py), through the ERP activities against both
emulators over HTTP: before the cut-over shadow mode plans each write in Xero, compares it with NetSuite's and
records every difference, writing nothing to Xero; after it a new invoice posts to Xero while a payment on an
invoice posted before it is applied in NetSuite."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import ActivityEnvironment
from typer.testing import CliRunner

from activities.erp import ErpActivities
from activities.migration import ErpMigrations, Move
from activities.reconcile import ReconcileErpActivities
from canonical import Address, Customer, Invoice, InvoiceLine, Money, Payment, PaymentStatus
from canonical.reference import LEGAL_ENTITIES
from cli.shadow import cli as shadow_cli
from connectors.errors import PermanentError
from connectors.factory import ERP_PLANS
from connectors.netsuite import NetSuiteErp
from connectors.roles import Erp
from connectors.routing import ByVendor
from connectors.xero import XeroCredentials, XeroErp
from connectors.xero import mapping as xero_mapping
from sandbox.xero.app import CLIENT_ID, CLIENT_SECRET
from store import create_schema, make_engine, session_scope
from store.shadow import ShadowRepository
from tests.support.xero import TENANT, xero_state
from workflows.interface import (
    ApplyPayment,
    PostCreditMemo,
    PostInvoice,
    ReadErp,
    UpdateErpCustomer,
    UpsertErpCustomer,
)

CUTOVER = date(2027, 1, 1)
DE01 = LEGAL_ENTITIES["DE01"]


class Writes:
    """Counts the requests that could change Xero (anything but a GET to its API; token requests excluded)."""

    def __init__(self) -> None:
        self.count = 0

    async def __call__(self, request: httpx.Request) -> None:
        if request.method != "GET" and "api.xro" in request.url.path:
            self.count += 1


@pytest.fixture
async def xero(emulators: Any) -> Any:
    writes = Writes()
    async with httpx.AsyncClient(timeout=5.0, event_hooks={"request": [writes]}) as client:
        credentials = XeroCredentials(CLIENT_ID, CLIENT_SECRET, {"UK01": TENANT, "DE01": TENANT})
        yield XeroErp(client, emulators.url("xero"), credentials), writes


def activities(erp: NetSuiteErp, xero: XeroErp, today: date, shadow: bool, engine: Any) -> ErpActivities:
    erps: ByVendor[Erp] = ByVendor("erp", {"netsuite": erp, "xero": xero}, "netsuite")
    move = Move("DE01", "netsuite", "xero", CUTOVER, shadow)
    return ErpActivities(erps, ErpMigrations([move], erps, dict(ERP_PLANS), engine, today=lambda: today))


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    engine = make_engine(f"sqlite:///{tmp_path / 'c2c.db'}")
    create_schema(engine)
    return engine


def customer() -> Customer:
    address = Address(line1="Unter den Linden 1", city="Berlin", postal_code="10117", country="DE")
    return Customer(
        golden_id=f"gc_{uuid.uuid4().hex[:10]}",
        legal_name=f"Berlin GmbH {uuid.uuid4().hex[:6]}",
        tax_id="DE123456789",
        address=address,
    )


def invoice(golden_id: str, issued: date) -> Invoice:
    unit = Money(amount=39_00, currency="EUR")
    return Invoice(
        golden_customer_id=golden_id,
        legal_entity="DE01",
        currency="EUR",
        issue_date=issued,
        due_date=issued.replace(day=28),
        lines=[
            InvoiceLine(
                product_code="PLAT-SEAT", description="Seats", quantity=3, unit_amount=unit, amount=unit.times(3)
            )
        ],
        tax=Money(amount=22_23, currency="EUR"),
        tax_document_code="c2c-DE-1",
        number=f"DE-{uuid.uuid4().hex[:6]}",
        external_refs={"stripe": f"in_{uuid.uuid4().hex[:14]}"},
    )


def payment(of: Invoice) -> Payment:
    return Payment(
        invoice_id=of.external_refs["stripe"],
        amount=of.total,
        status=PaymentStatus.SUCCEEDED,
        external_refs={"stripe": f"pi_{uuid.uuid4().hex[:14]}"},
        settled_at=datetime.combine(of.issue_date, datetime.min.time(), UTC),
    )


async def run_deal(acts: ErpActivities, issued: date) -> tuple[Customer, Invoice, str, str]:
    """Customer, invoice, payment and a reversal of one DE01 deal, as the saga's ERP activities make them."""
    env, buyer = ActivityEnvironment(), customer()
    customer_id = await env.run(
        acts.upsert_customer, UpsertErpCustomer(customer=buyer, legal_entity=DE01, currency="EUR")
    )
    posted = invoice(buyer.golden_id or "", issued)
    invoice_id = await env.run(acts.post_invoice, PostInvoice(invoice=posted, customer_erp_id=customer_id))
    pay = ApplyPayment(
        payment=payment(posted), customer_erp_id=customer_id, invoice_erp_id=invoice_id, legal_entity="DE01"
    )
    await env.run(acts.apply_payment, pay)
    memo = PostCreditMemo(invoice=posted, invoice_erp_id=invoice_id, customer_erp_id=customer_id)
    await env.run(acts.post_credit_memo, memo)
    return buyer, posted, customer_id, invoice_id


def findings(engine: Any) -> list[Any]:
    with session_scope(engine) as session:
        return ShadowRepository(session).findings("DE01")


async def test_shadow_finds_nothing_on_a_clean_run_and_writes_nothing_to_the_new_erp(
    erp: NetSuiteErp, xero: Any, engine: Any
) -> None:
    connector, writes = xero
    acts = activities(erp, connector, date(2026, 12, 1), shadow=True, engine=engine)
    _, posted, _, invoice_id = await run_deal(acts, date(2026, 12, 1))
    assert findings(engine) == []
    assert writes.count == 0
    assert (await erp.erp_invoice_of(posted.external_refs["stripe"], "DE01")).erp_id == invoice_id
    with pytest.raises(PermanentError):
        await connector.erp_invoice_of(posted.external_refs["stripe"], "DE01")


async def test_shadow_reports_a_planted_tax_rounding_difference(
    erp: NetSuiteErp, xero: Any, engine: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    connector, writes = xero
    rounded = xero_mapping._tax_line

    def whole_units(tax: Money, description: str) -> Any:  # the planted difference: Xero's tax rounded to units
        line = rounded(tax, description)
        line["LineAmount"] = line["UnitAmount"] = Decimal(line["LineAmount"]).quantize(Decimal(1))
        return line

    monkeypatch.setattr(xero_mapping, "_tax_line", whole_units)
    acts = activities(erp, connector, date(2026, 12, 1), shadow=True, engine=engine)
    _, posted, _, _ = await run_deal(acts, date(2026, 12, 1))
    await run_deal(acts, date(2026, 12, 1))  # a second deal: its own findings
    key = posted.external_refs["stripe"]
    mine = {(row.kind, row.field): (row.current, row.shadow) for row in findings(engine) if key in row.key}
    assert mine == {
        ("invoice", "lines[1]"): ("- x1 22.23 tax", "- x1 22.00 tax"),
        ("invoice", "total"): ("139.23", "139.00"),
        ("credit_memo", "lines[1]"): ("- x1 22.23 tax", "- x1 22.00 tax"),
        ("credit_memo", "total"): ("139.23", "139.00"),
    }
    assert len(findings(engine)) == 8
    assert writes.count == 0
    # a retried write records nothing twice
    await ActivityEnvironment().run(
        acts.post_invoice,
        PostInvoice(
            invoice=posted,
            customer_erp_id=(await erp.customers_by_external_id([f"{posted.golden_customer_id}-DE01"]))[0].internal_id,
        ),
    )
    assert len(findings(engine)) == 8
    monkeypatch.setenv("C2C_DATABASE_URL", f"sqlite:///{tmp_path / 'c2c.db'}")
    from settings import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(shadow_cli, ["report", "--entity", "DE01"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    assert "22.23" in result.output
    assert "22.00" in result.output
    assert key[:12] in result.output


async def test_shadow_reports_an_invoice_the_new_erp_already_holds(erp: NetSuiteErp, xero: Any, engine: Any) -> None:
    connector, writes = xero
    acts, env, buyer = (
        activities(erp, connector, date(2026, 12, 1), shadow=True, engine=engine),
        ActivityEnvironment(),
        customer(),
    )
    posted = invoice(buyer.golden_id or "", date(2026, 12, 1))
    contact = await connector.upsert_customer(buyer, DE01, "EUR")  # imported into Xero ahead of the cut-over
    imported = await connector.post_invoice(posted, contact)
    writes.count = 0
    ns_customer = await env.run(
        acts.upsert_customer, UpsertErpCustomer(customer=buyer, legal_entity=DE01, currency="EUR")
    )
    await env.run(acts.post_invoice, PostInvoice(invoice=posted, customer_erp_id=ns_customer))
    mine = [(row.kind, row.field, row.shadow) for row in findings(engine) if row.key == posted.external_refs["stripe"]]
    assert mine == [("invoice", "already in new ERP", f"exists as {imported}")]
    assert writes.count == 0


async def test_after_the_cutover_a_new_invoice_posts_to_the_new_erp_and_an_old_ones_payment_to_the_old(
    erp: NetSuiteErp, xero: Any, engine: Any, http: httpx.AsyncClient, emulators: Any
) -> None:
    connector, writes = xero
    env = ActivityEnvironment()
    before = activities(erp, connector, date(2026, 12, 20), shadow=False, engine=engine)
    buyer, old, customer_id, old_id = await run_deal_without_payment(before, date(2026, 12, 1))
    assert writes.count == 0
    after = activities(erp, connector, date(2027, 1, 15), shadow=False, engine=engine)
    new = invoice(buyer.golden_id or "", CUTOVER)
    # the lifecycle started before the cut-over still names NetSuite and NetSuite's customer
    new_id = await env.run(after.post_invoice, PostInvoice(invoice=new, customer_erp_id=customer_id))
    in_xero = await connector.erp_invoice_of(new.external_refs["stripe"], "DE01")
    assert in_xero.erp_id == new_id
    contacts = [
        c
        for c in (await xero_state(http, emulators.url("xero")))["Contacts"]
        if c["ContactNumber"] == f"{buyer.golden_id}-DE01"
    ]
    assert [c["Name"] for c in contacts] == [buyer.legal_name]  # carried over from NetSuite's record
    renamed = buyer.model_copy(update={"legal_name": "Renamed " + buyer.legal_name})
    await env.run(after.update_customer, UpdateErpCustomer(customer=renamed, legal_entity=DE01))
    [(_, fields)] = [(c, c.fields) for c in await connector.customers_by_external_id([f"{buyer.golden_id}-DE01"])]
    assert fields.name == renamed.legal_name  # the customer master's update reaches the copy in the new ERP
    for posted, erp_id in ((old, old_id), (new, new_id)):
        pay = ApplyPayment(
            payment=payment(posted), customer_erp_id=customer_id, invoice_erp_id=erp_id, legal_entity="DE01"
        )
        await env.run(after.apply_payment, pay)
    xero_payments = [  # the session's Xero also holds other tests' payments, refunds of credit notes among them
        p
        for p in (await xero_state(http, emulators.url("xero")))["Payments"]
        if p.get("Invoice", {}).get("InvoiceID") == new_id
    ]
    assert len(xero_payments) == 1
    with pytest.raises(PermanentError):
        await erp.erp_invoice_of(new.external_refs["stripe"], "DE01")  # nothing of the new period in NetSuite
    applied = [p for p in await erp.payments_modified_since(date(2000, 1, 1)) if old_id in p.applied]
    assert [p.amount for p in applied] == [old.total.amount]  # the old invoice's payment, in NetSuite
    # the reconciler's read of the new ERP finds a customer never carried over in the old one, with its open items
    reader = ReconcileErpActivities(after.erps, after.migrations)
    unmoved, *_ = await run_deal_without_payment(before, date(2026, 12, 2))
    wanted = [f"{buyer.golden_id}-DE01", f"{unmoved.golden_id}-DE01"]
    read = await env.run(reader.read_erp, ReadErp(erp="xero", since=date(2026, 1, 1), customer_external_ids=wanted))
    assert sorted(customer.external_id for customer in read.customers) == sorted(wanted)
    assert not [
        p
        for p in (await xero_state(http, emulators.url("xero")))["Payments"]
        if p.get("Invoice", {}).get("InvoiceID") == old_id
    ]


async def run_deal_without_payment(acts: ErpActivities, issued: date) -> tuple[Customer, Invoice, str, str]:
    env, buyer = ActivityEnvironment(), customer()
    customer_id = await env.run(
        acts.upsert_customer, UpsertErpCustomer(customer=buyer, legal_entity=DE01, currency="EUR")
    )
    posted = invoice(buyer.golden_id or "", issued)
    invoice_id = await env.run(acts.post_invoice, PostInvoice(invoice=posted, customer_erp_id=customer_id))
    return buyer, posted, customer_id, invoice_id
