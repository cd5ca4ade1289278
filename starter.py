"""`python starter.py [serve|start|list|show|resolve|cancel] ...`: the API (served when no command is given)
and finance's CLI. The API is in api/, the commands in cli/finance.py (`shadow report`: cli/shadow.py); nothing
imports this file."""

from cli.finance import cli
from cli.shadow import cli as shadow_cli

cli.add_typer(shadow_cli, name="shadow", help="what shadow mode found for entities migrating ERP: report")

if __name__ == "__main__":
    cli()
