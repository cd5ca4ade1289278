"""Credit notes on invoices (adjustment: what is due; refundable: what was paid) and write-offs."""

from __future__ import annotations

from sandbox.chargebee import wire
from sandbox.chargebee.billing import UNPAID, totals
from sandbox.chargebee.catalog import get
from sandbox.chargebee.state import Record, Site, now, touch

CREDIT_REASONS = (
    "write_off",
    "subscription_change",
    "subscription_cancellation",
    "subscription_pause",
    "chargeback",
    "product_unsatisfactory",
    "service_unsatisfactory",
    "order_change",
    "order_cancellation",
    "waiver",
    "other",
    "fraudulent",
)


def write_off(site: Site, invoice_id: str, form: Record) -> Record:
    """`POST /invoices/{id}/write_off`: an adjustment credit note (`write_off`) for what is due; the invoice is paid."""
    invoice = get(site.invoices, "invoice", invoice_id)
    if invoice["status"] not in UNPAID:
        raise wire.invalid_state(f"invoice {invoice_id} is {invoice['status']}; only an unpaid invoice is written off")
    wire.text(form, "comment", max_length=300)
    credited = create_credit_note(
        site, {"reference_invoice_id": invoice_id, "type": "adjustment", "reason_code": "write_off"}
    )
    invoice["amount_adjusted"] -= credited["credit_note"]["total"]  # a write-off, not an adjustment
    invoice["write_off_amount"] += credited["credit_note"]["total"]
    totals(invoice)
    return invoice


def create_credit_note(site: Site, form: Record) -> Record:
    """`POST /credit_notes`: an adjustment note takes off what is due, a refundable one gives back what was paid."""
    invoice_id = wire.text(form, "reference_invoice_id", required=True, max_length=50)
    assert invoice_id is not None
    invoice = get(site.invoices, "invoice", invoice_id)
    kind = wire.choice(form, "type", ("adjustment", "refundable")) or _missing_type()
    reason = wire.choice(form, "reason_code", CREDIT_REASONS)
    create_reason = wire.text(form, "create_reason_code", max_length=100)
    if reason is None and create_reason is None:
        raise wire.missing("reason_code")
    if invoice["status"] in ("pending", "voided"):
        raise wire.invalid_state(f"invoice {invoice_id} is {invoice['status']}; it cannot be credited")
    credited = sum(site.credit_notes[note["cn_id"]]["total"] for note in invoice["issued_credit_notes"])
    room = invoice["amount_due"] if kind == "adjustment" else invoice["amount_paid"] - _refundable_taken(site, invoice)
    total = wire.integer(form, "total", low=1, high=10**13)
    total = room if total is None else total
    if total <= 0 or total > room or credited + total > invoice["total"]:
        raise wire.wrong_value("total", f"total : cannot be more than {room}, what the invoice has left to credit")
    note: Record = {
        "id": site.new_number("CN"),
        "customer_id": invoice["customer_id"],
        "subscription_id": invoice.get("subscription_id"),
        "reference_invoice_id": invoice_id,
        "type": kind,
        "reason_code": reason,
        "create_reason_code": create_reason or reason,
        "status": "adjusted" if kind == "adjustment" else "refund_due",
        "date": wire.integer(form, "date") or now(),
        "price_type": "tax_exclusive",
        "currency_code": invoice["currency_code"],
        "total": total,
        "sub_total": total,
        "amount_allocated": total if kind == "adjustment" else 0,
        "amount_refunded": 0,
        "amount_available": 0 if kind == "adjustment" else total,
        "customer_notes": wire.text(form, "customer_notes", max_length=2000),
        "generated_at": now(),
        "line_items": [
            {
                "id": site.new_id("li"),
                "date_from": invoice["date"],
                "date_to": invoice["date"],
                "unit_amount": total,
                "quantity": 1,
                "amount": total,
                "description": create_reason or reason,
                "entity_type": "adhoc",
                "object": "line_item",
            }
        ],
        "deleted": False,
        "object": "credit_note",
    }
    note = {key: value for key, value in note.items() if value is not None}
    site.credit_notes[note["id"]] = touch(note)
    invoice["issued_credit_notes"].append(
        {
            "cn_id": note["id"],
            "cn_reason_code": reason,
            "cn_create_reason_code": note["create_reason_code"],
            "cn_date": note["date"],
            "cn_total": total,
            "cn_status": note["status"],
        }
    )
    if kind == "adjustment":
        invoice["amount_adjusted"] += total
        totals(invoice)
        if invoice["amount_due"] == 0:
            invoice["status"], invoice["paid_at"] = "paid", now()
    touch(invoice)
    site.emit("credit_note_created", {"credit_note": note, "invoice": invoice})
    return {"credit_note": note, "invoice": invoice}


def _refundable_taken(site: Site, invoice: Record) -> int:
    return sum(
        site.credit_notes[n["cn_id"]]["total"]
        for n in invoice["issued_credit_notes"]
        if site.credit_notes[n["cn_id"]]["type"] == "refundable"
    )


def _missing_type() -> str:
    raise wire.missing("type")
