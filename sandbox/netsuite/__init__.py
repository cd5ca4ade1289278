"""NetSuite emulator: SuiteTalk REST record API v1 (customer, invoice, payment, journal, credit memo)."""
