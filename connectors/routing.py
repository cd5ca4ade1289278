"""The connectors of one role, by vendor name: which one a call goes to is the vendor the saga's legal entity was
configured with (its input names it), never a guess from the shape of an id."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from connectors.errors import PermanentError

T = TypeVar("T")


class ByVendor(Generic[T]):
    """`role`'s connectors by vendor; `default` is the vendor an input that names none meant (every input recorded
    before routing by entity, when one vendor played each role)."""

    def __init__(self, role: str, connectors: dict[str, T], default: str) -> None:
        if default not in connectors:
            raise ValueError(f"the default {role} {default!r} has no connector")
        self.role, self._connectors, self.default_name = role, dict(connectors), default

    def __getitem__(self, vendor: str | None) -> T:
        """The connector of `vendor` (None: the default). A vendor this process was not configured with is our
        configuration's fault, not the vendor's: PermanentError, so the call parks instead of retrying."""
        name = vendor or self.default_name
        try:
            return self._connectors[name]
        except KeyError:
            raise PermanentError(
                "c2c",
                "vendor_not_configured",
                f"no {self.role} connector for {name!r} in this worker (it has {', '.join(self.names())}): "
                f"configure it in {'C2C_CRMS' if self.role == 'crm' else 'C2C_VENDORS_BY_ENTITY'}",
            ) from None

    @property
    def default(self) -> T:
        return self._connectors[self.default_name]

    def names(self) -> list[str]:
        return sorted(self._connectors)

    def __iter__(self) -> Iterator[tuple[str, T]]:
        return iter(sorted(self._connectors.items()))
