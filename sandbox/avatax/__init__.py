"""AvaTax REST v2 emulator: transactions with destination-based rates, address checks and voids."""
