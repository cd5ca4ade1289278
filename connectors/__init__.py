"""Vendor connectors (one package each), the role Protocols they satisfy and the shared error taxonomy."""
