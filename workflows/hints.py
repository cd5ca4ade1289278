"""The one action that fits a parked saga's problem, with the exact `resolve` payload: shown on the workflow's page
in the Temporal UI (current details), where finance works the exception queue. Pure: no Temporal calls."""

from __future__ import annotations

import json

from workflows.saga import Problem, ResolutionAction

ACTOR = "you@example.com"

# Problem codes whose fix is corrected data (the only ones that take it); every other code is a retry once the cause
# is fixed outside c2c, or a cancel.
_WITH_DATA: dict[str, tuple[ResolutionAction, dict[str, object], str]] = {
    "invalid_address": (
        ResolutionAction.RETRY_WITH_ADDRESS,
        {
            "corrected_address": {
                "line1": "…",
                "city": "…",
                "region": "CA",
                "postal_code": "…",
                "country": "US",
            }
        },
        "correct the billing address (the tax engine could not place it)",
    ),
    "customer_ambiguous": (
        ResolutionAction.RETRY_WITH_CUSTOMER,
        {"golden_customer_id": "gc_…"},
        "pick the golden customer this CRM account is (several match)",
    ),
}

_FIX_FIRST = {
    "unavailable": "the vendor stayed down through the retries: retry once it answers",
    "uncollectible": "the customer did not pay after dunning: retry once their payment method is fixed, or cancel",
    "card_declined": "the card was declined: retry once the payment method is fixed, or cancel",
    "resource_missing": "a record c2c refers to is missing at the vendor: restore or recreate it there, then retry",
    "period_closed": "the ERP accounting period is closed: reopen it (or wait for the next), then retry",
    "auth": "c2c's credentials were refused: fix them in the worker's settings, then retry",
}


def payload(action: ResolutionAction, **fields: object) -> str:
    body = {"action": action.value, **fields, "actor": ACTOR, "note": "why (kept in the history)"}
    return json.dumps(body, ensure_ascii=False)  # the UI shows it as written: "…", not "\u2026"


def action_hint(problem: Problem) -> str:
    """Markdown: what went wrong, the action that fits and the `resolve` update's payload to paste."""
    if problem.code in _WITH_DATA:
        action, fields, why = _WITH_DATA[problem.code]
        return (
            f"To do: {why}. Send the `resolve` update with\n\n`{payload(action, **fields)}`\n\n"
            f"or cancel: `{payload(ResolutionAction.CANCEL)}`"
        )
    why = _FIX_FIRST.get(problem.code, "fix the cause at the vendor or in c2c's settings, then retry")
    return (
        f"To do: {why}. Send the `resolve` update with `{payload(ResolutionAction.RETRY)}` (or the `resume` "
        f"signal), or cancel: `{payload(ResolutionAction.CANCEL)}`"
    )
