"""The BillingSystem methods the Chargebee connector does not do yet (renewals and amendments: renewals.py and
amendments.py; refunds and disputes: refunds.py).

Each refuses loudly, naming itself (PermanentError 'unsupported'): a saga or lifecycle step routed to Chargebee
that needs one stops with a clear reason instead of doing something half right. What each would take in Chargebee
is said beside it (docs/decisions.md, "issue 15: Chargebee").
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, NoReturn

from canonical.usage import ReportedUsage, UsageReport
from connectors.chargebee.errors import SYSTEM
from connectors.errors import PermanentError

if TYPE_CHECKING:
    from connectors.stripe.webhooks import PaymentNotice


def unsupported(method: str, would_take: str) -> NoReturn:
    raise PermanentError(SYSTEM, "unsupported", f"ChargebeeBilling.{method} is not implemented ({would_take})")


class ChargebeeLifecycle:
    # webhooks

    async def complete_notice(self, notice: PaymentNotice) -> PaymentNotice:
        unsupported("complete_notice", "a Chargebee event carries its invoice and transaction whole")

    # usage (the UsageReporting workflow)

    async def report_usage(self, report: UsageReport, *, idempotency_key: str) -> ReportedUsage:
        unsupported("report_usage", "metered addon items and POST /usages on the subscription")

    async def usage_of_period(self, event_name: str, customer_id: str, start: datetime, end: datetime) -> int:
        unsupported("usage_of_period", "GET /usages of the subscription for the period")
