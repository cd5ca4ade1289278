"""Xero Accounting API emulator."""
