"""ERP activities (task queue `{queue}-erp`): customer, AR invoice, applied payment, journals, credit memos."""

from __future__ import annotations

from temporalio import activity

from activities.errors import translated
from canonical.refunds import ErpInvoiceRef
from connectors.roles import Erp
from connectors.routing import ByVendor
from workflows.interface import (
    ApplyPayment,
    ErpInvoiceOf,
    Names,
    PostCreditMemo,
    PostCreditNote,
    PostInvoice,
    PostJournal,
    RefundCustomer,
    UpdateErpCustomer,
    UpsertErpCustomer,
)


class ErpActivities:
    """Each call goes to the connector of the ERP its input names (the legal entity's, from the saga)."""

    def __init__(self, erps: ByVendor[Erp]) -> None:
        self.erps = erps

    @activity.defn(name=Names.ERP_CUSTOMER)
    async def upsert_customer(self, args: UpsertErpCustomer) -> str:
        with translated():
            return await self.erps[args.erp].upsert_customer(args.customer, args.legal_entity, args.currency)

    @activity.defn(name=Names.ERP_UPDATE_CUSTOMER)
    async def update_customer(self, args: UpdateErpCustomer) -> str:
        with translated():
            return await self.erps[args.erp].update_customer(args.customer, args.legal_entity)

    @activity.defn(name=Names.POST_INVOICE)
    async def post_invoice(self, args: PostInvoice) -> str:
        with translated():
            return await self.erps[args.erp].post_invoice(
                args.invoice, args.customer_erp_id, billing_system=args.billing_system
            )

    @activity.defn(name=Names.APPLY_PAYMENT)
    async def apply_payment(self, args: ApplyPayment) -> str:
        with translated():
            return await self.erps[args.erp].apply_payment(
                args.payment,
                args.customer_erp_id,
                args.invoice_erp_id,
                billing_system=args.billing_system,
                legal_entity=args.legal_entity,
            )

    @activity.defn(name=Names.POST_JOURNAL)
    async def post_journal_entry(self, args: PostJournal) -> str:
        with translated():
            return await self.erps[args.erp].post_journal_entry(args.entry)

    @activity.defn(name=Names.POST_CREDIT_MEMO)
    async def post_credit_memo(self, args: PostCreditMemo) -> str:
        with translated():
            return await self.erps[args.erp].post_credit_memo(
                args.invoice, args.invoice_erp_id, args.customer_erp_id, billing_system=args.billing_system
            )

    @activity.defn(name=Names.POST_CREDIT_NOTE)
    async def post_credit_note(self, args: PostCreditNote) -> str:
        with translated():
            return await self.erps[args.erp].post_credit_note(
                args.credit, args.invoice_erp_id, args.customer_erp_id, billing_system=args.billing_system
            )

    @activity.defn(name=Names.ERP_INVOICE_OF)
    async def invoice_of(self, args: ErpInvoiceOf) -> ErpInvoiceRef:
        with translated():
            return await self.erps[args.erp].erp_invoice_of(args.billing_invoice_id, args.legal_entity)

    @activity.defn(name=Names.REFUND_CUSTOMER)
    async def refund_customer(self, args: RefundCustomer) -> str:
        with translated():
            return await self.erps[args.erp].refund_customer(args.refund, args.legal_entity)
