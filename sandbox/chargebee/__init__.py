"""Chargebee API v2 emulator (product catalog 2.0): customers, items and item prices, subscriptions for items,
invoices, credit notes, transactions, events and webhooks."""
