"""Salesforce REST API (v60.0) emulator: OAuth, SOQL, sObjects with external-id upsert, closed-won webhook."""
