"""Billing activities (task queue `{queue}-billing`): customer, prices, subscription, invoice, payment."""

from __future__ import annotations

from temporalio import activity

from activities.errors import translated
from canonical import CreditNote, Invoice, Payment, RenewalInvoice, Subscription
from canonical.refunds import RefundableInvoice
from canonical.usage import ReportedUsage
from connectors.roles import BillingSystem
from connectors.routing import ByVendor
from workflows.interface import (
    CancelSubscription,
    CompleteRenewalInvoice,
    CreateBillingCustomer,
    CreateInvoice,
    CreateSubscription,
    CreditInvoice,
    CreditNoteRefundOf,
    EnsurePrices,
    InvoiceAction,
    InvoiceProrations,
    IssueCreditNote,
    Names,
    RefundableInvoiceOf,
    RenewalInvoices,
    ReportUsage,
    SetTermEnd,
    UpdateSubscription,
    UpsertBillingCustomer,
)


class BillingActivities:
    """Each call goes to the connector of the billing system its input names (the legal entity's, from the saga)."""

    def __init__(self, billings: ByVendor[BillingSystem]) -> None:
        self.billings = billings

    @activity.defn(name=Names.CREATE_BILLING_CUSTOMER)
    async def create_customer(self, args: CreateBillingCustomer) -> str:
        with translated():
            return await self.billings[args.billing].create_customer(
                args.golden_id, args.legal_name, idempotency_key=args.idempotency_key
            )

    @activity.defn(name=Names.BILLING_CUSTOMER)
    async def upsert_customer(self, args: UpsertBillingCustomer) -> str:
        with translated():
            return await self.billings[args.billing].upsert_customer(
                args.customer, idempotency_key=args.idempotency_key
            )

    @activity.defn(name=Names.ENSURE_PRICES)
    async def ensure_prices(self, args: EnsurePrices) -> dict[str, str]:
        """Billing price id per product code; the key per price is derived from its lookup key."""
        ids: dict[str, str] = {}
        with translated():
            for item in args.prices:
                ids[item.price.product_code] = await self.billings[args.billing].ensure_price(
                    item.price, item.product_name, idempotency_key=f"price:{item.price.lookup_key}"
                )
        return ids

    @activity.defn(name=Names.CREATE_SUBSCRIPTION)
    async def create_subscription(self, args: CreateSubscription) -> Subscription:
        with translated():
            return await self.billings[args.billing].create_subscription(
                args.customer_id, args.contract, args.price_ids, idempotency_key=args.idempotency_key
            )

    @activity.defn(name=Names.CREATE_INVOICE)
    async def create_invoice(self, args: CreateInvoice) -> Invoice:
        with translated():
            return await self.billings[args.billing].create_invoice(
                args.customer_id, args.subscription_id, args.invoice, idempotency_key=args.idempotency_key
            )

    @activity.defn(name=Names.FINALIZE_INVOICE)
    async def finalize_invoice(self, args: InvoiceAction) -> Invoice:
        with translated():
            return await self.billings[args.billing].finalize_invoice(
                args.invoice_id, idempotency_key=args.idempotency_key
            )

    @activity.defn(name=Names.RENEWAL_INVOICES)
    async def renewal_invoices(self, args: RenewalInvoices) -> list[RenewalInvoice]:
        with translated():
            return await self.billings[args.billing].renewal_invoices(args.subscription_id)

    @activity.defn(name=Names.COMPLETE_RENEWAL_INVOICE)
    async def complete_renewal_invoice(self, args: CompleteRenewalInvoice) -> Invoice:
        with translated():
            return await self.billings[args.billing].complete_renewal_invoice(
                args.customer_id, args.invoice_id, args.invoice, idempotency_key=args.idempotency_key
            )

    @activity.defn(name=Names.SEND_INVOICE)
    async def send_invoice(self, args: InvoiceAction) -> None:
        with translated():
            await self.billings[args.billing].send_invoice(args.invoice_id, idempotency_key=args.idempotency_key)

    @activity.defn(name=Names.MARK_UNCOLLECTIBLE)
    async def mark_uncollectible(self, args: InvoiceAction) -> None:
        with translated():
            await self.billings[args.billing].mark_uncollectible(args.invoice_id, idempotency_key=args.idempotency_key)

    @activity.defn(name=Names.CREDIT_INVOICE)
    async def credit_invoice(self, args: CreditInvoice) -> str | None:
        with translated():
            return await self.billings[args.billing].credit_invoice(
                args.invoice_id, args.reason, idempotency_key=args.idempotency_key
            )

    @activity.defn(name=Names.COLLECT_PAYMENT)
    async def collect_payment(self, args: InvoiceAction) -> Payment:
        with translated():
            return await self.billings[args.billing].collect_payment(
                args.invoice_id, idempotency_key=args.idempotency_key
            )

    @activity.defn(name=Names.VOID_INVOICE)
    async def void_invoice(self, args: InvoiceAction) -> None:
        with translated():
            await self.billings[args.billing].void_invoice(args.invoice_id, idempotency_key=args.idempotency_key)

    @activity.defn(name=Names.CANCEL_SUBSCRIPTION)
    async def cancel_subscription(self, args: CancelSubscription) -> None:
        with translated():
            await self.billings[args.billing].cancel_subscription(
                args.subscription_id, idempotency_key=args.idempotency_key
            )

    @activity.defn(name=Names.UPDATE_SUBSCRIPTION)
    async def update_subscription(self, args: UpdateSubscription) -> None:
        with translated():
            await self.billings[args.billing].update_subscription(
                args.subscription_id, args.lines, args.price_ids, args.effective, idempotency_key=args.idempotency_key
            )

    @activity.defn(name=Names.INVOICE_PRORATIONS)
    async def invoice_prorations(self, args: InvoiceProrations) -> RenewalInvoice | None:
        with translated():
            return await self.billings[args.billing].invoice_prorations(
                args.customer_id, args.subscription_id, idempotency_key=args.idempotency_key
            )

    @activity.defn(name=Names.SET_TERM_END)
    async def set_term_end(self, args: SetTermEnd) -> None:
        with translated():
            await self.billings[args.billing].set_term_end(
                args.subscription_id, args.end, idempotency_key=args.idempotency_key
            )

    @activity.defn(name=Names.ISSUE_CREDIT_NOTE)
    async def issue_credit_note(self, args: IssueCreditNote) -> CreditNote:
        with translated():
            return await self.billings[args.billing].issue_credit_note(
                args.credit, idempotency_key=args.idempotency_key
            )

    @activity.defn(name=Names.REFUNDABLE_INVOICE)
    async def refundable_invoice(self, args: RefundableInvoiceOf) -> RefundableInvoice:
        with translated():
            return await self.billings[args.billing].refundable_invoice(args.invoice_id)

    @activity.defn(name=Names.CREDIT_NOTE_REFUND)
    async def credit_note_refund(self, args: CreditNoteRefundOf) -> str | None:
        with translated():
            return await self.billings[args.billing].credit_note_refund(args.credit_note_id)

    @activity.defn(name=Names.REPORT_USAGE)
    async def report_usage(self, args: ReportUsage) -> ReportedUsage:
        with translated():
            return await self.billings[args.billing].report_usage(args.report, idempotency_key=args.idempotency_key)
