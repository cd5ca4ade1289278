"""Business ids c2c gives to what it creates: formatted and parsed here and nowhere else.

Workflow ids are business ids so a second trigger for the same thing finds the id taken; the ERP customer's
external id is the upsert key that makes a retried create land on the same record.
"""

from __future__ import annotations

import hashlib

SAGA_PREFIX = "c2c"


def saga_id(crm: str, deal_id: str) -> str:
    """The CustomerToCash workflow id of one CRM deal: `c2c:{crm}:{deal}`."""
    return f"{SAGA_PREFIX}:{crm}:{deal_id}"


def parse_saga_id(workflow_id: str) -> tuple[str, str]:
    """(crm, deal id) of a saga id; ValueError when it is not one."""
    prefix, _, rest = workflow_id.partition(":")
    crm, _, deal_id = rest.partition(":")
    if prefix != SAGA_PREFIX or not crm or not deal_id or crm == "customer":
        raise ValueError(f"not a saga id: {workflow_id!r} (expected c2c:{{crm}}:{{deal}})")
    return crm, deal_id


def master_id(golden_id: str) -> str:
    """The CustomerMaster workflow id of one golden customer."""
    return f"{SAGA_PREFIX}:customer:{golden_id}"


def billing_customer_key(golden_id: str) -> str:
    """Idempotency key of the billing customer: keyed by the golden customer, so concurrent deals share one."""
    return f"{SAGA_PREFIX}:customer:{golden_id}:billing"


def erp_customer_id(golden_id: str, legal_entity: str) -> str:
    """External id of the ERP customer: one per golden customer and subsidiary."""
    return f"{golden_id}-{legal_entity}"


def parse_erp_customer_id(external_id: str) -> tuple[str, str] | None:
    """(golden id, legal entity) of an ERP customer's external id, or None when it is not one of ours."""
    golden_id, _, entity = external_id.rpartition("-")
    if not golden_id or not entity:
        return None
    return golden_id, entity


def tax_document_code(crm: str, deal_id: str) -> str:
    """A deal's tax document code; AvaTax codes are at most 50 characters, so long ids get a stable hash."""
    code = f"{SAGA_PREFIX}-{crm}-{deal_id}"
    if len(code) > 50:
        code = f"{SAGA_PREFIX}-" + hashlib.sha256(code.encode()).hexdigest()[:40]
    return code


def subscription_id(crm: str, deal_id: str) -> str:
    """The SubscriptionLifecycle workflow id of one deal's subscription: `c2c:{crm}:{deal}:subscription`."""
    return f"{saga_id(crm, deal_id)}:subscription"


def parse_subscription_id(workflow_id: str) -> tuple[str, str]:
    """(crm, deal id) of a lifecycle workflow id; ValueError when it is not one."""
    head, sep, _ = workflow_id.rpartition(":subscription")
    if not sep or workflow_id != f"{head}:subscription":
        raise ValueError(
            f"not a subscription lifecycle id: {workflow_id!r} (expected c2c:{{crm}}:{{deal}}:subscription)"
        )
    return parse_saga_id(head)


def period_tax_document_code(crm: str, deal_id: str, period: int, change: str | None = None) -> str:
    """The tax document of one later billing period (period 1 is the deal's own `tax_document_code`), or of the
    prorations of CRM `change` billed at once in it."""
    code = f"{SAGA_PREFIX}-{crm}-{deal_id}-p{period}" + (f"-{change}" if change else "")
    if len(code) > 50:
        code = f"{SAGA_PREFIX}-" + hashlib.sha256(code.encode()).hexdigest()[:40]
    return code


def usage_report_id(event_id: str) -> str:
    """The UsageReporting workflow id of one usage event: `c2c:usage:{event id}`, so an event is reported once."""
    return f"{SAGA_PREFIX}:usage:{event_id}"


def refund_id(invoice_id: str, refund_key: str) -> str:
    """The Refund workflow id of one refund of a billing invoice: `c2c:refund:{invoice}:{key}` (the key is finance's,
    or billing's refund id for a refund made in billing), so a second start of the same refund finds it."""
    return f"{SAGA_PREFIX}:refund:{invoice_id}:{refund_key}"


def refund_tax_document_code(workflow_id: str) -> str:
    """The tax document of a refund's credit (its own, credited lines negative), at most 50 characters."""
    return f"{SAGA_PREFIX}-rf-" + hashlib.sha256(workflow_id.encode()).hexdigest()[:40]
