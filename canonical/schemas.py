"""JSON Schemas of the canonical model, versioned files under canonical/schemas/.

`python -m canonical.schemas` (`make schemas`) writes them, and the event payload schemas
(canonical/event_contracts.py); tests fail when a model changed and the files did not. A breaking change gets a
new version number, never an in-place edit of a published one: `write` refuses it, naming what breaks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from canonical import event_contracts
from canonical.catalog import Catalog, Price, Product
from canonical.contract import Amendment, Contract, Deal, Subscription
from canonical.events import BusinessEvent
from canonical.invoice import CreditNote, Invoice
from canonical.ledger import JournalEntry
from canonical.money import Money
from canonical.party import Address, Customer, LegalEntity
from canonical.payment import Payment
from canonical.tax import TaxQuote, TaxRequest

SCHEMA_DIR = Path(__file__).parent / "schemas"
VERSION = "v1"
# Models past their first version; the older files stay as published. Invoice v2: `lines` may be empty on an
# invoice of prorations alone (v1 required one). BusinessEvent v2: the event type `refund.issued` (a reader of v1
# validating `type` against its enum would refuse it).
VERSIONS: dict[str, str] = {"Invoice": "v2", "BusinessEvent": "v2"}

MODELS: list[type[BaseModel]] = [
    Money,
    Address,
    LegalEntity,
    Customer,
    Product,
    Price,
    Catalog,
    Deal,
    Contract,
    Subscription,
    TaxRequest,
    TaxQuote,
    Invoice,
    CreditNote,
    Amendment,
    Payment,
    JournalEntry,
    BusinessEvent,
]


def render() -> dict[str, str]:
    """File name -> schema text for every canonical model."""
    return {
        f"{model.__name__}.{VERSIONS.get(model.__name__, VERSION)}.json": json.dumps(
            model.model_json_schema(), indent=2, sort_keys=True
        )
        + "\n"
        for model in MODELS
    }


def superseded() -> set[str]:
    """The files of earlier versions of models past their first: published once, so kept as they are."""
    return {f"{name}.v{n}.json" for name, version in VERSIONS.items() for n in range(1, int(version.removeprefix("v")))}


def write() -> None:
    SCHEMA_DIR.mkdir(exist_ok=True)
    refused = []
    for name, text in render().items():
        path = SCHEMA_DIR / name
        if path.is_file() and path.read_text() != text:
            problems = event_contracts.breaking_changes(json.loads(path.read_text()), json.loads(text))
            if problems:
                refused.append(f"{name} is published; a breaking change needs a new version: {'; '.join(problems)}")
                continue
        path.write_text(text)
    if refused:
        raise SystemExit("\n".join(refused))


if __name__ == "__main__":
    write()
    events = event_contracts.write()
    sys.stdout.write(f"{len(MODELS)} schemas in {SCHEMA_DIR}; event schemas written: {events or 'none changed'}\n")
