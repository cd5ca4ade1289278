"""Chargebee (API v2, product catalog 2.0) as the billing system of a legal entity."""

from connectors.chargebee.client import ChargebeeBilling

__all__ = ["ChargebeeBilling"]
