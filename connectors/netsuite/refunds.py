"""Refunds in NetSuite: the ERP invoice of a billing invoice, and the customer refund (`customerRefund`) that pays
a credit memo's unapplied credit back, upserted by billing's refund id (external id) so a retry books it once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from canonical import Money
from canonical.refunds import CustomerRefund, ErpInvoiceRef, ErpRefund
from connectors.errors import PermanentError
from connectors.netsuite import reads
from connectors.netsuite.errors import SYSTEM
from connectors.netsuite.mapping import currency_ref

RECORD = "customerRefund"


def customer_refund_body(refund: CustomerRefund, tran_date: date) -> dict[str, Any]:
    """The refund dated `tran_date`, applied to its credit memo for the whole amount."""
    amount = refund.amount.to_decimal()
    return {
        "customer": {"id": refund.customer_erp_id},
        "currency": currency_ref(refund.amount.currency),
        "tranDate": tran_date.isoformat(),
        "memo": refund.memo,
        "apply": {"items": [{"doc": {"id": refund.credit_memo_erp_id}, "apply": True, "amount": amount}]},
    }


def erp_refund(record: dict[str, Any]) -> ErpRefund:
    """A customerRefund record as the reconciler compares it; PermanentError naming the field that does not fit."""
    currency = record.get("currency")
    code = reads.CURRENCY_CODES.get(str(currency.get("id"))) if isinstance(currency, dict) else None
    if code is None:
        raise PermanentError(SYSTEM, "bad_response", f"customerRefund {record.get('id')!r}: unknown currency")
    items = (record.get("apply") or {}).get("items") or []
    memos = [str(item["doc"]["id"]) for item in items if isinstance(item, dict) and isinstance(item.get("doc"), dict)]
    return ErpRefund(
        external_id=record.get("externalId"),
        erp_id=str(record.get("id")),
        amount=Money.from_decimal(record.get("total", 0), code),
        credit_memo_erp_ids=memos,
    )


class NetSuiteRefunds:
    """Mixed into NetSuiteErp, which supplies the record reads and the upsert into an open period."""

    async def erp_invoice_of(self, billing_invoice_id: str, legal_entity: str | None = None) -> ErpInvoiceRef:
        """The ERP invoice whose external id is the billing invoice's; PermanentError 'invoice_not_found'."""
        record = await self.get_by_external_id("invoice", billing_invoice_id)
        if record is None:
            raise PermanentError(
                SYSTEM, "invoice_not_found", f"no ERP invoice for billing invoice {billing_invoice_id}"
            )
        currency = record.get("currency")
        return ErpInvoiceRef(
            erp_id=str(record.get("id")),
            customer_erp_id=str((record.get("entity") or {}).get("id")),
            currency=reads.CURRENCY_CODES.get(str(currency.get("id")), "") if isinstance(currency, dict) else "",
        )

    async def refund_customer(self, refund: CustomerRefund, legal_entity: str | None = None) -> str:
        """Upsert the customer refund by billing's refund id, dated `refund.on` or in the next open period."""

        def body(tran_date: date) -> Any:
            return customer_refund_body(refund, tran_date)

        return await self._upsert_in_open_period(RECORD, refund.refund_id, refund.on, body)

    async def customer_refunds_modified_since(self, since: date) -> list[ErpRefund]:
        return [erp_refund(record) for record in await self._records_modified_since(RECORD, since)]

    # supplied by NetSuiteErp
    async def get_by_external_id(self, record_type: str, external_id: str) -> dict[str, Any] | None:
        raise NotImplementedError

    async def _upsert_in_open_period(
        self, record_type: str, external_id: str, day: date, body_for: Callable[[date], Any]
    ) -> str:
        raise NotImplementedError

    async def _records_modified_since(self, record_type: str, since: date) -> list[dict[str, Any]]:
        raise NotImplementedError
