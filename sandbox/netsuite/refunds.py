"""Customer refunds (`customerRefund`): money paid back to a customer out of credit it holds.

As in NetSuite, a refund applies to credit documents (here credit memos) of the same customer and currency, each
for at most what the memo still has unapplied; its total is what it applies. It credits the account the money
leaves from (by default Undeposited Funds, where c2c's customer payments land) and debits receivables, so the memo
it consumes no longer shows as credit the customer holds."""

from __future__ import annotations

from decimal import Decimal

from sandbox.netsuite.records import (
    ZERO,
    _date,
    _items,
    _missing,
    _number,
    _open_period,
    _party,
    _ref_key,
    _text,
)
from sandbox.netsuite.state import ACCOUNTS, UNDEPOSITED_FUNDS, Account, Record, invalid_ref, invalid_value, user_error


def build_customer_refund(account: Account, given: Record, internal_id: str) -> Record:
    _, entity, subsidiary, currency = _party(account, given, "customer", "Customer")
    tran_date = _date(given, "tranDate", default_today=True)
    assert tran_date is not None
    _open_period(account, tran_date)
    bank = _ref_key(given, "account", "Account", required=False) or UNDEPOSITED_FUNDS
    if bank not in ACCOUNTS:
        raise invalid_ref("account", bank)
    me = ("customerRefund", internal_id)
    applications: dict[str, Decimal] = {}
    stored: list[Record] = []
    for line in _items(given, "apply"):
        if line.get("apply", True) is not True:
            continue
        doc_key = _ref_key(line, "doc", "Applied To")
        assert doc_key is not None
        memo = account.records["creditMemo"].get(doc_key)
        if memo is None:
            raise invalid_ref("doc", doc_key)
        if memo["entity"]["id"] != entity["id"] or memo["currency"]["id"] != currency["id"]:
            raise user_error(f"Credit memo {memo['tranId']} belongs to another customer or currency.", "apply")
        if "amount" not in line:
            raise _missing("Amount")
        amount = _number(line["amount"], "amount")
        if amount <= 0:
            raise invalid_value("Invalid value for field amount: the refunded amount must be positive.", "apply")
        available = memo["total"] - memo["applied"] - account.applied_to(doc_key, excluding=me)
        available -= applications.get(doc_key, ZERO)
        if amount > available:
            raise user_error(
                f"The amount refunded ({amount}) exceeds the credit available ({available}) on {memo['tranId']}.",
                "apply",
            )
        applications[doc_key] = applications.get(doc_key, ZERO) + amount
        stored.append({"doc": {"id": doc_key, "refName": memo["tranId"]}, "apply": True, "amount": amount})
    if not applications:
        raise user_error("A customer refund must apply to at least one credit.", "apply")
    total = sum(applications.values(), ZERO)
    return {
        "id": internal_id,
        "externalId": _text(given, "externalId"),
        "tranId": f"CREF{internal_id}",
        "customer": entity,
        "subsidiary": subsidiary,
        "currency": currency,
        "tranDate": tran_date.isoformat(),
        "memo": _text(given, "memo"),
        "account": {"id": bank, "refName": ACCOUNTS[bank]["acctName"]},
        "total": total,
        "apply": {"items": stored},
        "_applications": applications,
    }
