"""RevenueRecognition: one month's revenue of one legal entity moved from deferred revenue to revenue in the ERP.

Run by a monthly Temporal Schedule per legal entity (operations/schedules.py; without a month it recognizes the
month before the run) or started by hand for a month. It reads the entity's deferred revenue from the ERP (every
line posted to it with its service period, and the recognition journals already posted), computes each
currency's amount with the pure schedules of canonical/revenue.py — everything scheduled through the month minus
what earlier journals recognized, so a document that reached the books late is caught up once — and posts one
balanced journal per (month, entity, currency), external id `rev-{entity}-{currency}-{yyyy-mm}`. A journal the ERP
already holds is left as it is: a re-run posts nothing new. A closed ERP period posts into the next open one, and
the journal's memo says so.

Refused, with an error naming the problem and nothing posted: an unknown legal entity, a month that is not
YYYY-MM, a month that has not ended, a month before one already recognized (recognition runs in month order),
deferred revenue in a currency the ERP books no journal in (`currency_not_base`: an ERP whose journals are in
the organisation's base currency only).
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import workflows.interface as act
    from canonical import DEFAULT_VENDORS, Money
    from canonical.reference import LEGAL_ENTITIES, REVENUE_ACCOUNTS
    from canonical.revenue import (
        MONTH_PATTERN,
        PostedRecognition,
        RevenueLedger,
        amount_to_recognize,
        month_of,
        parse_month,
        previous_month,
        recognition_entry,
        recognition_external_id,
    )
    from workflows.calls import call_activity
    from workflows.interface import Names

CALL_TIMEOUT = timedelta(minutes=5)
REFUSED = "RecognitionRefused"  # the ApplicationError type of a refused request (never retried)


class RecognitionInput(BaseModel):
    legal_entity: str
    erp: str = Field(
        default=DEFAULT_VENDORS.erp, description="the vendor playing the entity's ERP (settings.vendors_for)"
    )
    month: str | None = Field(
        default=None, description="YYYY-MM; none: the month before the run (what the monthly Schedule starts)"
    )
    as_of: date | None = Field(
        default=None,
        description="the books' today when billing runs on a test clock ahead of real time (the sandbox's demo); "
        "none: the workflow's clock. A month is recognized only once it has ended by this day",
    )


class Outcome(StrEnum):
    POSTED = "posted"
    EXISTS = "exists"  # posted by an earlier run: left as it is
    NOTHING = "nothing"  # nothing scheduled and nothing to catch up


class CurrencyRecognition(BaseModel):
    currency: str
    outcome: Outcome
    amount: int = Field(description="minor units moved from deferred revenue to revenue (the journal's, if any)")
    external_id: str
    journal: PostedRecognition | None = None


class RecognitionResult(BaseModel):
    legal_entity: str
    month: str = Field(pattern=MONTH_PATTERN)
    currencies: list[CurrencyRecognition]


def refuse(message: str) -> ApplicationError:
    return ApplicationError(message, type=REFUSED, non_retryable=True)


def checked_month(args: RecognitionInput, today: date) -> str:
    """The month to recognize; refused when the entity is unknown, or the month unreadable or not over yet."""
    if args.legal_entity not in LEGAL_ENTITIES:
        raise refuse(f"unknown legal entity {args.legal_entity!r} (known: {', '.join(sorted(REVENUE_ACCOUNTS))})")
    if args.legal_entity not in REVENUE_ACCOUNTS:
        raise refuse(
            f"{args.legal_entity} has no deferred revenue accounts: its ERP ({args.erp}) keeps no service periods "
            f"to recognize from (recognized entities: {', '.join(sorted(REVENUE_ACCOUNTS))})"
        )
    month = args.month or previous_month(month_of(today))
    try:
        parse_month(month)
    except ValueError as error:
        raise refuse(str(error)) from None
    if month >= month_of(today):
        raise refuse(f"month {month} has not ended (today is {today.isoformat()}): only a past month is recognized")
    return month


def currencies_of(ledger: RevenueLedger, legal_entity: str) -> list[str]:
    """The entity's currencies and any other its books hold deferred revenue in."""
    return sorted(set(LEGAL_ENTITIES[legal_entity].currencies) | {line.currency for line in ledger.lines})


@workflow.defn(name="RevenueRecognition")
class RevenueRecognition:
    @workflow.run
    async def run(self, args: RecognitionInput) -> RecognitionResult:
        month = checked_month(args, args.as_of or workflow.now().date())
        entity = args.legal_entity
        ledger: RevenueLedger = await call_activity(
            act.ERP_QUEUE,
            Names.REVENUE_LEDGER,
            act.RevenueLedgerRequest(legal_entity=entity, erp=args.erp),
            RevenueLedger,
            timeout=CALL_TIMEOUT,
        )
        later = sorted({r.month for r in ledger.recognitions if r.month > month})
        if later:
            raise refuse(f"{entity}: {month} is before {later[-1]}, already recognized: recognition runs in order")
        unpostable = ledger.unpostable()
        if unpostable:  # refused before any journal: never one currency posted and the next refused
            held = "; ".join(f"{currency} on {', '.join(documents)}" for currency, documents in unpostable.items())
            raise refuse(
                f"currency_not_base: {entity}'s ERP ({args.erp}) books journals in "
                f"{', '.join(ledger.journal_currencies or [])} only, and its deferred revenue holds {held}; "
                "nothing was posted for any currency"
            )
        results = []
        for currency in currencies_of(ledger, entity):
            results.append(await self.recognize(ledger, entity, currency, month, args.erp))
        return RecognitionResult(legal_entity=entity, month=month, currencies=results)

    @staticmethod
    async def recognize(
        ledger: RevenueLedger, entity: str, currency: str, month: str, erp: str = DEFAULT_VENDORS.erp
    ) -> CurrencyRecognition:
        external_id = recognition_external_id(entity, currency, month)
        existing = next((r for r in ledger.recognitions if r.external_id == external_id), None)
        if existing is not None:
            return CurrencyRecognition(
                currency=currency,
                outcome=Outcome.EXISTS,
                amount=existing.amount,
                external_id=external_id,
                journal=existing,
            )
        posted_before = sum(r.amount for r in ledger.recognitions if r.currency == currency and r.month < month)
        amount = amount_to_recognize(ledger.lines, posted_before, entity, currency, month)
        if amount == 0:
            return CurrencyRecognition(currency=currency, outcome=Outcome.NOTHING, amount=0, external_id=external_id)
        lines = sum(1 for line in ledger.lines if line.currency == currency)
        entry = recognition_entry(
            entity, month, Money(amount=amount, currency=currency), REVENUE_ACCOUNTS[entity], lines=lines
        )
        journal: PostedRecognition = await call_activity(
            act.ERP_QUEUE,
            Names.POST_RECOGNITION,
            act.PostRecognition(entry=entry, erp=erp),
            PostedRecognition,
            timeout=CALL_TIMEOUT,
        )
        # A journal found under the id (a concurrent run posted it first) is reported as it is in the books.
        outcome = Outcome.POSTED if journal.amount == amount else Outcome.EXISTS
        return CurrencyRecognition(
            currency=currency, outcome=outcome, amount=journal.amount, external_id=external_id, journal=journal
        )
