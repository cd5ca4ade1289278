"""Usage-priced deal lines: moved out of the priced lines (so no per-period sum counts them), entered as 1 x the
price per unit, and never a deal's only lines; a usage event's id is bounded like a meter event identifier."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from canonical import DealLine
from canonical.rules import deal_problems
from canonical.usage import UsageEvent, split_usage
from tests.support.factories import make_deal, usd

SEATS = DealLine(product_code="PLAT-SEAT", quantity=10, unit_price=usd(49_00))
CALLS = DealLine(product_code="API-CALLS", quantity=1, unit_price=usd(2))


def test_usage_lines_leave_the_priced_lines_and_their_amount() -> None:
    deal = split_usage(make_deal(lines=[SEATS, CALLS]))
    assert (deal.lines, deal.usage_lines) == ([SEATS], [CALLS])
    assert deal.period_amount == usd(490_00)
    assert deal_problems(deal) == []
    assert split_usage(make_deal(lines=[SEATS])).usage_lines == []


def test_a_deal_of_usage_alone_or_a_usage_line_of_many_units_is_refused() -> None:
    only_usage = make_deal(lines=[CALLS])
    assert split_usage(only_usage).lines == [CALLS]  # left for the rule to refuse
    assert [code for code, _ in deal_problems(only_usage)] == ["usage_only_deal"]
    many = make_deal(lines=[SEATS, CALLS.model_copy(update={"quantity": 1000})])
    assert [code for code, _ in deal_problems(many)] == ["usage_line_quantity"]
    assert [code for code, _ in deal_problems(split_usage(many))] == ["usage_line_quantity"]


def test_a_usage_event_id_is_what_a_meter_event_identifier_can_be() -> None:
    at = datetime(2026, 12, 6, tzinfo=UTC)
    UsageEvent(event_id="evt-1:a.b_c", subscription="D", meter="api_calls", quantity=1, timestamp=at)
    for bad in ("", "x" * 101, "has space"):
        with pytest.raises(ValidationError):
            UsageEvent(event_id=bad, subscription="D", meter="api_calls", quantity=1, timestamp=at)
    with pytest.raises(ValidationError):  # a time without its offset is ambiguous
        UsageEvent(event_id="e", subscription="D", meter="api_calls", quantity=1, timestamp=datetime(2026, 12, 6))  # noqa: DTZ001
