"""General-ledger journal entries; an unbalanced entry cannot be constructed."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field, model_validator

from canonical.money import Money


class JournalLine(BaseModel):
    account: str = Field(min_length=1, description="GL account number")
    debit: Money | None = None
    credit: Money | None = None
    memo: str | None = None

    @model_validator(mode="after")
    def _one_side_positive(self) -> JournalLine:
        sides = [m for m in (self.debit, self.credit) if m is not None]
        if len(sides) != 1:
            raise ValueError(f"line on {self.account}: exactly one of debit or credit is required")
        if sides[0].amount <= 0:
            raise ValueError(f"line on {self.account}: amount must be positive")
        return self


class JournalEntry(BaseModel):
    external_id: str
    legal_entity: str
    date: date
    memo: str | None = None
    lines: list[JournalLine] = Field(min_length=2)

    @model_validator(mode="after")
    def _balanced_per_currency(self) -> JournalEntry:
        balance: dict[str, int] = {}
        for line in self.lines:
            side = line.debit or line.credit
            assert side is not None
            sign = 1 if line.debit is not None else -1
            balance[side.currency] = balance.get(side.currency, 0) + sign * side.amount
        unbalanced = {cur: amt for cur, amt in balance.items() if amt}
        if unbalanced:
            raise ValueError(f"unbalanced journal entry (debits - credits, minor units): {unbalanced}")
        return self
