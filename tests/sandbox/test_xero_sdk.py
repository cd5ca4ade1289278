"""The Xero emulator through Xero's official Python SDK (xero-python), and its shapes against Xero's OpenAPI spec
(../shared/specs/xero_accounting.yaml; those checks skip when ../shared is absent)."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.xero.app import CLIENT_ID, CLIENT_SECRET
from tests.support.xero import TENANT

xero_python = pytest.importorskip("xero_python")
from xero_python.accounting import AccountingApi  # noqa: E402
from xero_python.accounting.models import (  # noqa: E402
    Contact,
    Contacts,
    CurrencyCode,
    Invoice,
    Invoices,
    LineAmountTypes,
    LineItem,
)
from xero_python.api_client import ApiClient  # noqa: E402
from xero_python.api_client.configuration import Configuration  # noqa: E402
from xero_python.api_client.oauth2 import OAuth2Token, TokenApi  # noqa: E402
from xero_python.exceptions import AccountingBadRequestException  # noqa: E402

SPEC = Path(__file__).resolve().parents[3] / "shared" / "specs" / "xero_accounting.yaml"


def sdk(url: str, monkeypatch: pytest.MonkeyPatch) -> AccountingApi:
    """The SDK with a client-credentials token from the emulator's identity endpoint."""
    token = OAuth2Token(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    store: dict[str, Any] = {}
    client = ApiClient(
        Configuration(oauth2_token=token),
        oauth2_token_saver=lambda t: store.update(token=t),
        oauth2_token_getter=lambda: store.get("token"),
    )
    # The SDK names identity.xero.com in a class attribute: point it at the emulator's identity endpoint.
    monkeypatch.setattr(TokenApi, "client_credentials_token_url", f"{url}/connect/token")
    client.get_client_credentials_token()
    return AccountingApi(client, base_url=f"{url}/api.xro/2.0")


@pytest.fixture
def api(emulators: Any, monkeypatch: pytest.MonkeyPatch) -> AccountingApi:
    return sdk(emulators.url("xero"), monkeypatch)


def test_sdk_creates_and_reads_a_contact_and_an_authorised_invoice(api: AccountingApi) -> None:
    number = f"gc_{uuid.uuid4().hex[:8]}-UK01"
    contact = Contact(name=f"SDK Ltd {number}", contact_number=number, default_currency=CurrencyCode.GBP)
    created = api.create_contacts(TENANT, Contacts(contacts=[contact]), idempotency_key=f"sdk-{number}").contacts[0]
    assert created.contact_id
    assert created.contact_number == number
    again = api.create_contacts(TENANT, Contacts(contacts=[contact]), idempotency_key=f"sdk-{number}").contacts[0]
    assert again.contact_id == created.contact_id  # the key replayed the first answer
    found = api.get_contacts(TENANT, where=f'ContactNumber=="{number}"').contacts
    assert [c.contact_id for c in found] == [created.contact_id]
    invoice = Invoice(
        type="ACCREC",
        contact=Contact(contact_id=created.contact_id),
        date=date(2025, 3, 1),
        due_date=date(2025, 3, 31),
        invoice_number=f"in_{number}",
        currency_code=CurrencyCode.GBP,
        status="AUTHORISED",
        line_amount_types=LineAmountTypes.NOTAX,
        line_items=[
            LineItem(description="Seats", quantity=2.0, unit_amount=39.0, account_code="2400", tax_type="NONE")
        ],
    )
    posted = api.create_invoices(TENANT, Invoices(invoices=[invoice])).invoices[0]
    assert (posted.total, posted.amount_due, str(posted.status)) == (78.0, 78.0, "AUTHORISED")
    read = api.get_invoice(TENANT, posted.invoice_id).invoices[0]
    assert (read.invoice_number, read.date.isoformat()) == (f"in_{number}", "2025-03-01")


def test_sdk_sees_a_validation_exception_with_its_elements(api: AccountingApi) -> None:
    invoice = Invoice(
        type="ACCREC", contact=Contact(contact_id=str(uuid.uuid4())), date=date(2025, 3, 1), line_items=[]
    )
    with pytest.raises(AccountingBadRequestException) as refused:
        api.create_invoices(TENANT, Invoices(invoices=[invoice]))
    error = refused.value.error_data  # the SDK hands the ApiException body over as it came
    assert error["Type"] == "ValidationException"
    assert "Contact" in error["Elements"][0]["ValidationErrors"][0]["Message"]


@pytest.mark.skipif(not SPEC.exists(), reason="../shared/specs is not checked out beside the repository")
def test_error_and_allocation_shapes_follow_xeros_spec() -> None:
    schemas = yaml.safe_load(SPEC.read_text())["components"]["schemas"]
    assert set(schemas["Error"]["properties"]) >= {"ErrorNumber", "Type", "Message", "Elements"}
    assert "ValidationErrors" in schemas["Element"]["properties"]
    assert set(schemas["Allocation"]["required"]) == {"Amount", "Invoice", "Date"}
    for name, fields in {
        "Invoice": {"InvoiceNumber", "Reference", "AmountDue", "LineItems", "Contact", "CurrencyCode"},
        "CreditNote": {"CreditNoteNumber", "RemainingCredit", "Allocations"},
        "Payment": {"Reference", "Invoice", "Account", "Amount"},
        "ManualJournal": {"Narration", "JournalLines"},
        "Contact": {"ContactNumber", "TaxNumber", "DefaultCurrency", "Addresses"},
    }.items():
        assert fields <= set(schemas[name]["properties"]), name
    header = yaml.safe_load(SPEC.read_text())["components"]["parameters"]["idempotencyKey"]
    assert (header["name"], header["in"]) == ("Idempotency-Key", "header")
