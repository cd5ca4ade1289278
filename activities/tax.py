"""Tax activities (task queue `{queue}-tax`): quote, commit and void a tax document."""

from __future__ import annotations

from temporalio import activity

from activities.errors import translated
from canonical import TaxQuote
from connectors.roles import TaxEngine
from workflows.interface import Names, QuoteTax, TaxDocument


class TaxActivities:
    def __init__(self, tax: TaxEngine) -> None:
        self.tax = tax

    @activity.defn(name=Names.QUOTE_TAX)
    async def quote(self, args: QuoteTax) -> TaxQuote:
        with translated():
            return await self.tax.quote(args.request)

    @activity.defn(name=Names.COMMIT_TAX)
    async def commit(self, args: TaxDocument) -> None:
        with translated():
            await self.tax.commit(args.company_code, args.document_code)

    @activity.defn(name=Names.VOID_TAX)
    async def void(self, args: TaxDocument) -> None:
        with translated():
            await self.tax.void(args.company_code, args.document_code)
