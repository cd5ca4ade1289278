"""`python -m reconcile run|schedule ...`: the reconciliation CLI (cli/reconcile.py)."""

from cli.reconcile import cli

if __name__ == "__main__":
    cli()
