"""Stripe's list conventions, shared by the list endpoints: newest first, `limit` (1-100, default 10),
`starting_after` / `ending_before` cursors (an object id of the previous page) and `created` filters
(`created=<unix>` or `created[gt|gte|lt|lte]=<unix>`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sandbox.stripe.errors import InvalidParams, no_such
from sandbox.stripe.forms import Params
from sandbox.stripe.state import Call, list_object

PAGING = frozenset({"limit", "starting_after", "ending_before", "created"})
_RANGE = frozenset({"gt", "gte", "lt", "lte"})


def created_filter(params: Params) -> Callable[[dict[str, Any]], bool]:
    """The `created` condition of a list request (everything when absent)."""
    raw = params.values.get("created")
    if raw in (None, ""):
        return lambda _: True
    if isinstance(raw, str):
        exact = params.integer("created")
        return lambda obj: obj["created"] == exact
    bounds = params.obj("created", _RANGE)
    assert bounds is not None
    limits = {name: bounds.integer(name) for name in _RANGE}

    def within(obj: dict[str, Any]) -> bool:
        created = obj["created"]
        return all(
            bound is None or check(created, bound)
            for bound, check in (
                (limits["gt"], lambda c, b: c > b),
                (limits["gte"], lambda c, b: c >= b),
                (limits["lt"], lambda c, b: c < b),
                (limits["lte"], lambda c, b: c <= b),
            )
        )

    return within


def page(call: Call, collection: str, members: Iterable[dict[str, Any]], url: str) -> dict[str, Any]:
    """One page of `members` (already filtered, oldest first) in Stripe's order, newest first."""
    params = call.params
    limit = params.integer("limit", minimum=1) or 10
    after, before = params.text("starting_after"), params.text("ending_before")
    if limit > 100:
        raise InvalidParams("Invalid integer: limit must be at most 100", param="limit")
    if after and before:
        raise InvalidParams("You may only specify one of these parameters: ending_before, starting_after.")
    accepted = created_filter(params)
    found = [obj for obj in reversed(list(members)) if accepted(obj)]
    ids = [obj["id"] for obj in found]
    cursor = after or before
    if cursor is not None and cursor not in ids:
        param = "starting_after" if after else "ending_before"
        if collection in call.state.objects:
            call.state.get(collection, cursor, param=param)
        raise no_such(collection.removesuffix("s"), cursor, param)
        found = []  # an object the filters leave out: nothing around it
    if before is not None and found:
        rest = found[: ids.index(before)]
        data = rest[-limit:]
    else:
        rest = found[ids.index(after) + 1 :] if after is not None and found else found
        data = rest[:limit]
    result = list_object(data, url)
    result["has_more"] = len(rest) > limit
    return result
