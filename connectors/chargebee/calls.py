"""The calls ChargebeeBilling (client.py) makes to Chargebee, as its mixins (reads, renewals, amendments, refunds) see
them: declared once here, defined by the client."""

from __future__ import annotations

from typing import Any

Record = dict[str, Any]


class ChargebeeCalls:
    async def _request(
        self, method: str, path: str, *, params: Record | None = None, key: str | None = None, missing_ok: bool = False
    ) -> Any:
        raise NotImplementedError

    async def _get(self, path: str, name: str, *, missing_ok: bool = False) -> Record | None:
        raise NotImplementedError

    async def _list(self, collection: str, name: str, **filters: Any) -> list[Record]:
        raise NotImplementedError

    async def _invoice(self, invoice_id: str) -> Record:
        raise NotImplementedError

    async def _product_codes(self, invoice: Record) -> dict[str, str]:
        raise NotImplementedError
