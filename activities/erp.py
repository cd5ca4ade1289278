"""ERP activities (task queue `{queue}-erp`): customer, AR invoice, applied payment, journals, credit memos.

An entity migrating to another ERP (activities/migration.py) is shadowed here before its cut-over and routed here
after it; every other call goes to the ERP its input names."""

from __future__ import annotations

from temporalio import activity

from activities.errors import translated
from activities.migration import ErpMigrations
from canonical.refunds import ErpInvoiceRef
from connectors.errors import PermanentError
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
    """Each call goes to the connector of the ERP its input names (the legal entity's, from the saga), unless the
    entity has moved to another ERP since (`migrations`)."""

    def __init__(self, erps: ByVendor[Erp], migrations: ErpMigrations | None = None) -> None:
        self.erps = erps
        self.migrations = migrations or ErpMigrations([], erps, {}, None)

    @activity.defn(name=Names.ERP_CUSTOMER)
    async def upsert_customer(self, args: UpsertErpCustomer) -> str:
        entity = args.legal_entity.code
        with translated():
            erp_id = await self.erps[args.erp].upsert_customer(args.customer, args.legal_entity, args.currency)
            move = self.migrations.cut_over(entity, args.erp)
            if move is not None:  # the new ERP holds the customer too, for the invoices dated from the cut-over
                await self.erps[move.target].upsert_customer(args.customer, args.legal_entity, args.currency)
        await self.migrations.compare(
            entity, args.erp, lambda plans: plans.plan_customer(args.customer, args.legal_entity, args.currency)
        )
        return erp_id

    @activity.defn(name=Names.ERP_UPDATE_CUSTOMER)
    async def update_customer(self, args: UpdateErpCustomer) -> str:
        with translated():
            erp_id = await self.erps[args.erp].update_customer(args.customer, args.legal_entity)
            move = self.migrations.cut_over(args.legal_entity.code, args.erp)
            if move is not None:  # the copy in the new ERP, when there is one, stays alike
                try:
                    await self.erps[move.target].update_customer(args.customer, args.legal_entity)
                except PermanentError as error:
                    if error.code != "customer_not_found":
                        raise
            return erp_id

    @activity.defn(name=Names.POST_INVOICE)
    async def post_invoice(self, args: PostInvoice) -> str:
        invoice = args.invoice
        with translated():
            move = self.migrations.cut_over(invoice.legal_entity, args.erp)
            if move is not None and invoice.issue_date >= move.cutover:  # a new period: the new ERP
                customer = await self.migrations.customer_in_target(move, invoice.golden_customer_id, invoice.currency)
                return await self.erps[move.target].post_invoice(invoice, customer, billing_system=args.billing_system)
            erp_id = await self.erps[args.erp].post_invoice(
                invoice, args.customer_erp_id, billing_system=args.billing_system
            )
        await self.migrations.compare(
            invoice.legal_entity,
            args.erp,
            lambda plans: plans.plan_invoice(invoice, args.billing_system),
            invoice.external_refs.get(args.billing_system),
        )
        return erp_id

    @activity.defn(name=Names.APPLY_PAYMENT)
    async def apply_payment(self, args: ApplyPayment) -> str:
        erp, customer_erp_id = args.erp, args.customer_erp_id
        with translated():
            move = self.migrations.cut_over(args.legal_entity, args.erp)
            if move is not None:  # the payment goes where its invoice lives
                home = await self.migrations.invoice_in_target(move, args.payment.invoice_id, args.invoice_erp_id)
                if home is not None:
                    erp, customer_erp_id = move.target, home.customer_erp_id
            erp_id = await self.erps[erp].apply_payment(
                args.payment,
                customer_erp_id,
                args.invoice_erp_id,
                billing_system=args.billing_system,
                legal_entity=args.legal_entity,
            )
        entity = args.legal_entity or ""
        await self.migrations.compare(
            args.legal_entity, erp, lambda plans: plans.plan_payment(args.payment, entity, args.billing_system)
        )
        return erp_id

    @activity.defn(name=Names.POST_JOURNAL)
    async def post_journal_entry(self, args: PostJournal) -> str:
        with translated():
            return await self.erps[args.erp].post_journal_entry(args.entry)

    @activity.defn(name=Names.POST_CREDIT_MEMO)
    async def post_credit_memo(self, args: PostCreditMemo) -> str:
        invoice = args.invoice
        erp, customer_erp_id = args.erp, args.customer_erp_id
        with translated():
            move = self.migrations.cut_over(invoice.legal_entity, args.erp)
            billing_id = invoice.external_refs.get(args.billing_system)
            if move is not None and billing_id:  # the reversal goes where its invoice lives
                home = await self.migrations.invoice_in_target(move, billing_id, args.invoice_erp_id)
                if home is not None:
                    erp, customer_erp_id = move.target, home.customer_erp_id
            erp_id = await self.erps[erp].post_credit_memo(
                invoice, args.invoice_erp_id, customer_erp_id, billing_system=args.billing_system
            )
        await self.migrations.compare(
            invoice.legal_entity,
            erp,
            lambda plans: plans.plan_credit_memo(invoice, invoice.issue_date, args.billing_system),
        )
        return erp_id

    @activity.defn(name=Names.POST_CREDIT_NOTE)
    async def post_credit_note(self, args: PostCreditNote) -> str:
        credit = args.credit
        erp, customer_erp_id = args.erp, args.customer_erp_id
        with translated():
            move = self.migrations.cut_over(credit.legal_entity, args.erp)
            if move is not None:  # the credit goes where its invoice lives
                home = await self.migrations.invoice_in_target(move, credit.invoice_id, args.invoice_erp_id)
                if home is not None:
                    erp, customer_erp_id = move.target, home.customer_erp_id
            erp_id = await self.erps[erp].post_credit_note(
                credit, args.invoice_erp_id, customer_erp_id, billing_system=args.billing_system
            )
        await self.migrations.compare(
            credit.legal_entity,
            erp,
            lambda plans: plans.plan_credit_note(credit, credit.issue_date, args.billing_system),
        )
        return erp_id

    @activity.defn(name=Names.ERP_INVOICE_OF)
    async def invoice_of(self, args: ErpInvoiceOf) -> ErpInvoiceRef:
        with translated():
            move = self.migrations.cut_over(args.legal_entity, args.erp)
            if move is not None:  # an invoice dated from the cut-over lives in the new ERP
                try:
                    return await self.erps[move.target].erp_invoice_of(args.billing_invoice_id, args.legal_entity)
                except PermanentError as error:
                    if error.code != "invoice_not_found":
                        raise
            return await self.erps[args.erp].erp_invoice_of(args.billing_invoice_id, args.legal_entity)

    @activity.defn(name=Names.REFUND_CUSTOMER)
    async def refund_customer(self, args: RefundCustomer) -> str:
        with translated():
            return await self.erps[args.erp].refund_customer(args.refund, args.legal_entity)
