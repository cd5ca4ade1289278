"""What finance may decide for a parked saga: the `resolve` update's validator, as a pure function of the saga's
state (a refusal leaves no event in the history, and the Temporal UI shows its code)."""

from __future__ import annotations

from workflows.saga import Resolution, ResolutionAction, SagaStatus
from workflows.saga_runtime import refused

# The actions that carry corrected data: (the problem they answer, the field they need).
CORRECTIONS = {
    ResolutionAction.RETRY_WITH_ADDRESS: ("invalid_address", "corrected_address"),
    ResolutionAction.RETRY_WITH_CUSTOMER: ("customer_ambiguous", "golden_customer_id"),
}


def check_resolution(progress: SagaStatus, decided: bool, paid: bool, resolution: Resolution) -> None:
    """Raise `refused(code, message)` unless `resolution` answers the saga's open problem: it waits for a decision
    (`decided`: one was already accepted), corrected data comes with the action that uses it, and a cancel says why
    and comes before the customer has `paid`."""
    problem = progress.problem
    if problem is None or decided:
        raise refused("not_waiting", f"saga is not waiting for a decision (stage {progress.stage})")
    if resolution.action in CORRECTIONS:
        code, field = CORRECTIONS[resolution.action]
        if getattr(resolution, field) is None:
            raise refused("missing_field", f"{resolution.action} needs {field}")
        if problem.code != code:
            raise refused("wrong_problem", f"the problem is {problem.code}, not {code}: use retry or cancel")
    elif resolution.corrected_address is not None or resolution.golden_customer_id is not None:
        raise refused(
            "no_corrected_data", f"{resolution.action} takes no corrected data; use retry_with_address/customer"
        )
    if resolution.action is ResolutionAction.CANCEL:
        if not (resolution.note or "").strip():
            raise refused("note_required", "cancel needs a note saying why (it is kept in the saga's history)")
        if paid:
            raise refused(
                "paid",
                "the customer has paid: the saga only moves forward now (retry); a refund or credit note "
                "for a paid invoice is finance's decision in billing",
            )
