"""AvaTax connector: the TaxEngine role over AvaTax REST v2 (createoradjust, commit, void)."""

from connectors.avatax.client import AvaTaxEngine
from connectors.avatax.errors import classify

__all__ = ["AvaTaxEngine", "classify"]
