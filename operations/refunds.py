"""Finance's refunds, shared by the API and the CLI: check the refund against the invoice as billing has it now,
then start its Refund workflow once (`c2c:refund:{invoice}:{key}`).

Bad input starts nothing and writes nothing: an unknown invoice (404), or one that breaks a rule (422 naming it:
`invoice_not_paid`, `currency_mismatch`, `amount_not_positive`, `amount_exceeds_refundable`, `invalid_amount`,
`not_a_c2c_invoice`). The workflow checks again before its first write, so two refunds racing cannot both pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation

from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from canonical import Money, Vendors, ids
from canonical.refunds import RefundableInvoice, RefundOrigin, RefundRefusal, check_refund
from connectors.errors import ConnectorError, PermanentError
from connectors.roles import BillingSystem
from operations import finance
from operations.errors import BillingUnavailable, InvoiceNotFound, RefundRefused, ResolutionRejected, SagaNotFound
from workflows.refund import Refund, RefundInput, RefundStatus
from workflows.saga import Resolution

KEY_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
# A Refund workflow id (canonical.ids.refund_id): `c2c:refund:{invoice}:{key}` (Stripe's `in_…`, Chargebee's `INV-…`).
REFUND_ID_PATTERN = r"^c2c:refund:[A-Za-z0-9_-]{1,64}:[A-Za-z0-9_.-]{1,64}$"


class RefundRequest(BaseModel):
    """What finance asks: an amount (tax included, in the invoice's currency), why, and who asks."""

    amount: str = Field(description="decimal amount given back, e.g. 120.50 (JPY: whole yen)", max_length=32)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$", description="must be the invoice's if given")
    reason: str = Field(min_length=1, max_length=200, pattern=r"\S")
    actor: str = Field(min_length=1, max_length=100, pattern=r"\S")
    note: str | None = Field(default=None, max_length=1000)
    key: str | None = Field(
        default=None,
        pattern=KEY_PATTERN,
        description="finance's refund key; none: derived from the request, so sending it again starts nothing new",
    )

    def refund_key(self) -> str:
        if self.key:
            return self.key
        text = "|".join([self.amount, self.currency or "", self.reason, self.note or ""])
        return "r" + hashlib.sha256(text.encode()).hexdigest()[:16]


class RefundStarted(BaseModel):
    workflow_id: str
    invoice_id: str
    amount: Money
    started: bool
    detail: str


async def invoice_of(client: Client, crm: str, target: str) -> str:
    """The billing invoice a refund names: a deal's first (paid) invoice, or else `target` as an invoice id (Stripe's
    `in_…` without asking; another billing system's ids have no shape to tell them by), which billing then finds."""
    if target.startswith("in_"):
        return target
    try:
        status = await finance.show(client, crm, target)
    except SagaNotFound:
        return target
    invoice = status.external_ids.get("invoice")
    if invoice is None:
        raise InvoiceNotFound(f"deal {target} has no invoice yet")
    return invoice


async def start_refund(
    client: Client,
    billings: Sequence[BillingSystem],
    *,
    task_queue: str,
    crm: str,
    vendors_for: Callable[[str], Vendors],
    target: str,
    request: RefundRequest,
) -> RefundStarted:
    """`billings`: every billing system the invoice may be in (the default first); the refund reads it where it
    is, and the workflow goes to the billing system of the invoice's legal entity."""
    invoice_id = await invoice_of(client, crm, target)
    refundable = await refundable_in(billings, invoice_id)
    currency = request.currency or refundable.invoice.currency
    try:
        amount = Money.from_decimal(Decimal(request.amount), currency)
        exact = amount.to_decimal() == Decimal(request.amount)
    except (InvalidOperation, ValueError) as error:
        raise RefundRefused("invalid_amount", f"amount {request.amount!r} is not an amount in {currency}") from error
    if not exact:  # never round what finance typed: 1.001 USD is a typo, not 1.00
        raise RefundRefused("invalid_amount", f"{request.amount} has more decimals than {currency} allows")
    try:
        check_refund(refundable, amount)
    except RefundRefusal as refusal:
        raise RefundRefused(refusal.rule, refusal.message) from refusal
    if refundable.deal_id is None:
        raise RefundRefused("not_a_c2c_invoice", f"{invoice_id} was not billed by c2c: refund it in billing")
    workflow_id = ids.refund_id(invoice_id, request.refund_key())
    args = RefundInput(
        invoice_id=invoice_id,
        refund_key=request.refund_key(),
        amount=amount,
        reason=request.reason,
        actor=request.actor,
        note=request.note,
        origin=RefundOrigin.FINANCE,
        crm=crm,
        vendors=vendors_for(refundable.invoice.legal_entity).model_copy(update={"crm": crm}),
    )
    return await _start(client, task_queue, workflow_id, args)


async def refundable_in(billings: Sequence[BillingSystem], invoice_id: str) -> RefundableInvoice:
    """The invoice from the billing system that has it: an invoice id carries no legal entity, so each is asked
    (one that does not know it answers `resource_missing`); the first other refusal is reported if none has it."""
    refused: PermanentError | None = None
    for billing in billings:
        try:
            return await billing.refundable_invoice(invoice_id)
        except PermanentError as error:
            if error.code != "resource_missing":
                refused = refused or error
        except ConnectorError as error:
            raise BillingUnavailable(f"billing did not answer for {invoice_id}: {error}") from error
    if refused is not None:
        raise BillingUnavailable(f"billing refused to read {invoice_id}: {refused.code}") from refused
    raise InvoiceNotFound(f"no invoice {invoice_id!r} in billing and no saga for a deal {invoice_id!r}")


async def start_billing_refund(
    client: Client,
    billing: BillingSystem,
    *,
    task_queue: str,
    saga_id: str,
    vendors_for: Callable[[str], Vendors],
    invoice_id: str,
    refund_id: str,
    amount: Money,
    origin: str = RefundOrigin.BILLING,
    reason: str = "refunded in billing",
    credit_note_id: str | None = None,
) -> RefundStarted:
    """Book money billing gave back without c2c (`charge.refunded`; a chargeback's `charge.dispute.created`, whose
    dispute id is the refund id; Chargebee's `payment_refunded`, whose refund came with `credit_note_id`) on an
    invoice of saga `saga_id`: no check, the money has moved. The Refund runs under the deal's CRM (the saga's) with
    the vendors of the invoice's legal entity."""
    crm, _ = ids.parse_saga_id(saga_id)
    entity = (await billing.refundable_invoice(invoice_id)).invoice.legal_entity
    args = RefundInput(
        invoice_id=invoice_id,
        refund_key=refund_id,
        amount=amount,
        reason=reason,
        actor="billing",
        origin=origin,
        billing_refund_id=refund_id,
        billing_credit_note_id=credit_note_id,
        crm=crm,
        vendors=vendors_for(entity).model_copy(update={"crm": crm}),
    )
    return await _start(client, task_queue, ids.refund_id(invoice_id, refund_id), args)


async def saga_known(client: Client, saga_id: str) -> bool:
    """Temporal knows the saga an invoice names: else the ERP has no invoice of it to credit."""
    try:
        await client.get_workflow_handle(saga_id).describe()
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        return False
    return True


async def _start(client: Client, task_queue: str, workflow_id: str, args: RefundInput) -> RefundStarted:
    """Start once: a running refund is joined, a completed one never runs again, a failed one may run again (its
    writes are keyed, so it finishes what the failed run began)."""
    try:
        handle = await client.start_workflow(
            Refund.run,
            args,
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    except WorkflowAlreadyStartedError:
        return RefundStarted(
            workflow_id=workflow_id, invoice_id=args.invoice_id, amount=args.amount, started=False, detail="done before"
        )
    # The SDK keeps the server's `started` flag on the handle; False means we joined a running refund.
    started = bool(getattr(getattr(handle, "_start_workflow_response", None), "started", True))
    return RefundStarted(
        workflow_id=workflow_id,
        invoice_id=args.invoice_id,
        amount=args.amount,
        started=started,
        detail="started" if started else "already running",
    )


async def show_refund(client: Client, workflow_id: str) -> RefundStatus:
    """A refund's stage, problem (when parked), steps and finance's decisions."""
    try:
        return await client.get_workflow_handle(workflow_id).query(Refund.status)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise SagaNotFound(f"no refund {workflow_id}") from error
        raise


async def resolve_refund(client: Client, workflow_id: str, resolution: Resolution) -> RefundStatus:
    """Finance's decision on a parked refund (retry, or cancel while billing has not refunded)."""
    try:
        return await client.get_workflow_handle(workflow_id).execute_update(Refund.resolve, resolution)
    except WorkflowUpdateFailedError as error:
        raise ResolutionRejected(str(error.cause or error)) from error
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise SagaNotFound(f"no running refund {workflow_id}: there is nothing to decide") from error
        raise
