"""Reconciliation: compare every system's records with the sagas, report mismatches and KPIs, repair what is safe.

`snapshot` (what is read), `compare` (mismatches), `kpis`, `outcome` (the report model), `report` (terminal,
JSON, HTML) are pure; the reading and repairing are activities (activities/reconcile.py) run by the
`Reconciliation` workflow (workflows/reconciliation.py). CLI: `python -m reconcile run|schedule`.
"""
