"""`python starter.py [serve|start|list|show|resolve|cancel] ...`: the API (served when no command is given)
and finance's CLI. The API is in api/, the commands in cli/finance.py; nothing imports this file."""

from cli.finance import cli

if __name__ == "__main__":
    cli()
