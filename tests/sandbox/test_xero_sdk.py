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
    ManualJournal,
    ManualJournalLine,
    ManualJournals,
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


def test_sdk_posts_reads_pages_and_voids_a_manual_journal(api: AccountingApi) -> None:
    narration = f"[rev-sdk-{uuid.uuid4().hex[:8]}] recognition"
    lines = [
        ManualJournalLine(line_amount=120.0, account_code="2400", description="deferred revenue earned"),
        ManualJournalLine(line_amount=-120.0, account_code="4000", description="recognized"),
    ]
    journal = ManualJournal(narration=narration, date=date(2025, 3, 31), status="POSTED", journal_lines=lines)
    key = f"sdk-{narration[5:17]}"
    created = api.create_manual_journals(TENANT, ManualJournals(manual_journals=[journal]), idempotency_key=key)
    [posted] = created.manual_journals
    again = api.create_manual_journals(TENANT, ManualJournals(manual_journals=[journal]), idempotency_key=key)
    assert again.manual_journals[0].manual_journal_id == posted.manual_journal_id  # the key replayed it
    assert (posted.narration, str(posted.status), posted.date) == (narration, "POSTED", date(2025, 3, 31))
    assert [(line.account_code, line.line_amount) for line in posted.journal_lines] == [
        ("2400", 120.0),
        ("4000", -120.0),
    ]
    assert all(line.account_id for line in posted.journal_lines)
    listed = api.get_manual_journals(TENANT, where=f'Narration=="{narration}"', page=1, page_size=10)
    assert [j.manual_journal_id for j in listed.manual_journals] == [posted.manual_journal_id]
    assert (listed.pagination.page, listed.pagination.item_count) == (1, 1)
    read = api.get_manual_journal(TENANT, posted.manual_journal_id).manual_journals[0]
    assert read.narration == narration
    void = ManualJournal(narration=narration, status="VOIDED")
    voided = api.update_manual_journal(TENANT, posted.manual_journal_id, ManualJournals(manual_journals=[void]))
    assert str(voided.manual_journals[0].status) == "VOIDED"


def test_sdk_sees_an_unbalanced_journal_refused_in_xeros_error_shape(api: AccountingApi) -> None:
    lines = [
        ManualJournalLine(line_amount=100.0, account_code="2400"),
        ManualJournalLine(line_amount=-10.0, account_code="4000"),
    ]
    journal = ManualJournal(narration="unbalanced", date=date(2025, 3, 31), status="POSTED", journal_lines=lines)
    with pytest.raises(AccountingBadRequestException) as refused:
        api.create_manual_journals(TENANT, ManualJournals(manual_journals=[journal]))
    error = refused.value.error_data
    assert error["Type"] == "ValidationException"
    assert error["Elements"][0]["ValidationErrors"][0]["Message"] == (
        "The total debits (100.00) must equal total credits (-10.00)"
    )


@pytest.mark.skipif(not SPEC.exists(), reason="../shared/specs is not checked out beside the repository")
def test_manual_journal_shapes_follow_xeros_spec() -> None:
    """What the emulator answers for a journal and its lines is what the spec names, and the spec still lists
    the journal statuses the emulator uses."""
    from sandbox.xero.journals import CHANGES, NEW_STATUSES

    schemas = yaml.safe_load(SPEC.read_text())["components"]["schemas"]
    journal, line = schemas["ManualJournal"], schemas["ManualJournalLine"]
    assert {"Narration", "JournalLines", "Date", "LineAmountTypes", "Status", "UpdatedDateUTC", "ManualJournalID",
            "ShowOnCashBasisReports", "HasAttachments", "Url"} <= set(journal["properties"])  # fmt: skip
    assert journal["required"] == ["Narration"]
    assert set(CHANGES) | set(NEW_STATUSES) <= set(journal["properties"]["Status"]["enum"])
    assert {
        "LineAmount",
        "AccountCode",
        "AccountID",
        "Description",
        "TaxType",
        "Tracking",
        "TaxAmount",
        "IsBlank",
    } <= set(line["properties"])
    paths = yaml.safe_load(SPEC.read_text())["paths"]
    assert {"get", "put", "post"} <= set(paths["/ManualJournals"])
    assert {"get", "post"} <= set(paths["/ManualJournals/{ManualJournalID}"])


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
