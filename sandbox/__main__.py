"""`python -m sandbox`: the local vendor estate (Salesforce, Stripe, AvaTax, NetSuite emulators)."""

from __future__ import annotations

import asyncio
import sys

import typer

from sandbox.server import DEFAULT_PORTS, serve_all

cli = typer.Typer(add_completion=False)


@cli.command()
def main(
    host: str = "127.0.0.1",
    salesforce_port: int = DEFAULT_PORTS["salesforce"],
    stripe_port: int = DEFAULT_PORTS["stripe"],
    avatax_port: int = DEFAULT_PORTS["avatax"],
    netsuite_port: int = DEFAULT_PORTS["netsuite"],
    crm_webhook_url: str = typer.Option(None, help="where Salesforce posts opportunity changes"),
    crm_webhook_secret: str = "whsec_crm_sandbox",
    stripe_webhook_url: str = typer.Option(None, help="where Stripe posts events"),
    stripe_webhook_secret: str = "whsec_stripe_sandbox",
) -> None:
    ports = {
        "salesforce": salesforce_port,
        "stripe": stripe_port,
        "avatax": avatax_port,
        "netsuite": netsuite_port,
    }
    options = {
        "salesforce": {"webhook_url": crm_webhook_url, "webhook_secret": crm_webhook_secret},
        "stripe": {"webhook_url": stripe_webhook_url, "webhook_secret": stripe_webhook_secret},
    }
    sys.stdout.write(f"sandbox emulators on {host}: {ports}\n")
    sys.stdout.flush()
    asyncio.run(serve_all(host, ports, options))


if __name__ == "__main__":
    cli()
