"""Refunds in Xero: the ERP invoice of a billing invoice, and the refund that pays a credit note's remaining credit
back (a payment on the credit note, Reference = billing's refund id: found before it is created again)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from canonical.refunds import CustomerRefund, ErpInvoiceRef, ErpRefund
from connectors.errors import PermanentError
from connectors.xero import mapping
from connectors.xero.errors import SYSTEM

Record = dict[str, Any]
REFUND_TYPE = 'PaymentType=="ARCREDITPAYMENT"'


def _where_equals(field_name: str, value: str) -> str:
    return f'{field_name}=="{value.replace(chr(34), chr(92) + chr(34))}"'


class XeroRefunds:
    """Mixed into XeroErp, which supplies the tenants, the lookups and the writes into an open period."""

    async def erp_invoice_of(self, billing_invoice_id: str, legal_entity: str | None = None) -> ErpInvoiceRef:
        """The ACCREC invoice numbered with the billing invoice's id, in the entity's organisation (or any, when
        the call names no entity); PermanentError 'invoice_not_found'."""
        where = _where_equals("InvoiceNumber", billing_invoice_id) + ' AND Type=="ACCREC"'
        for tenant in self._tenants_of(legal_entity):
            row = await self._find(tenant, "Invoices", where)
            if row is not None:
                return mapping.erp_invoice_ref(row)
        raise PermanentError(SYSTEM, "invoice_not_found", f"no ERP invoice for billing invoice {billing_invoice_id}")

    async def refund_customer(self, refund: CustomerRefund, legal_entity: str | None = None) -> str:
        """Pay `refund.amount` out of the credit note, once: a retry finds the refund by billing's refund id."""
        for tenant in self._tenants_of(legal_entity):
            note_id = refund.credit_memo_erp_id.replace('"', "")
            if await self._find(tenant, "CreditNotes", f'CreditNoteID==Guid("{note_id}")') is None:
                continue
            existing = await self._find(tenant, "Payments", _where_equals("Reference", refund.refund_id))
            if existing is not None:
                return mapping.guid(existing, "PaymentID")

            async def create(on: date, tenant: str = tenant) -> Record:
                body = mapping.refund_body(refund, on)
                return await self._write(tenant, "PUT", "Payments", {"Payments": [body]}, "Payments")

            return mapping.guid(await self._in_open_period(refund.on, create), "PaymentID")
        raise PermanentError(
            SYSTEM, "credit_memo_not_found", f"no Xero credit note {refund.credit_memo_erp_id!r} to refund from"
        )

    async def customer_refunds_modified_since(self, since: date) -> list[ErpRefund]:
        return [mapping.erp_refund(row) for row in await self._all_tenants("Payments", since, REFUND_TYPE)]

    # supplied by XeroErp
    def _tenants_of(self, legal_entity: str | None) -> list[str]:
        raise NotImplementedError

    async def _find(self, tenant: str, collection: str, where: str) -> Record | None:
        raise NotImplementedError

    async def _all_tenants(self, collection: str, since: date, where: str | None) -> list[Record]:
        raise NotImplementedError

    async def _write(
        self, tenant: str, method: str, path: str, body: Any, collection: str, *, key: str | None = None
    ) -> Record:
        raise NotImplementedError

    async def _in_open_period(self, day: date, create: Callable[[date], Awaitable[Record]]) -> Record:
        raise NotImplementedError
