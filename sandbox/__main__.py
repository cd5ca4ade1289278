"""`python -m sandbox`: the local vendor estate (Salesforce, Stripe, AvaTax, NetSuite, Xero, HubSpot emulators).

`--chaos-seed N --chaos-rate P` starts every emulator with the chaos profile of `sandbox/faults.py` on (each
fault kind at rate P); `--chaos-profile JSON` (or `@file.json`) gives the whole profile instead, with optional
per-emulator overrides under "systems", e.g. `{"seed": 7, "rates": {"status_5xx": 0.03}, "systems":
{"salesforce": {"rates": {"status_5xx": 0.01}}}}`. Each emulator draws from its own generator, seeded from the
seed and its name, so one system's traffic does not shift another's faults.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import typer
import uvicorn
from fastapi import FastAPI

from sandbox.faults import ChaosProfile, ChaosRates, FaultBox
from sandbox.server import DEFAULT_PORTS, EMULATORS, build_app

cli = typer.Typer(add_completion=False)


def system_seed(seed: int, system: str) -> int:
    """A stable per-emulator seed (hash() of a str changes between processes; sha256 does not)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{system}".encode()).digest()[:8], "big")


def chaos_profiles(spec: dict[str, Any]) -> dict[str, ChaosProfile]:
    """One profile per emulator from a chaos spec: the shared fields, each system's overrides on top."""
    systems = spec.get("systems", {})
    unknown = set(systems) - set(EMULATORS)
    if unknown:
        raise ValueError(f"unknown emulators in the chaos profile: {', '.join(sorted(unknown))}")
    shared = {key: value for key, value in spec.items() if key != "systems"}
    profiles = {}
    for name in EMULATORS:
        merged = {**shared, **systems.get(name, {})}
        merged["seed"] = system_seed(int(merged["seed"]), name)
        profiles[name] = ChaosProfile.model_validate(merged)
    return profiles


def chaos_spec(seed: int | None, rate: float | None, profile: str | None) -> dict[str, Any] | None:
    """The chaos spec the options describe; None when chaos stays off."""
    if profile:
        text = Path(profile[1:]).read_text() if profile.startswith("@") else profile
        spec: dict[str, Any] = json.loads(text)
        if seed is not None:
            spec["seed"] = seed
        return spec
    if seed is None and rate is None:
        return None
    if seed is None or rate is None:
        raise typer.BadParameter("--chaos-seed and --chaos-rate go together (or use --chaos-profile)")
    return {"seed": seed, "rates": ChaosRates.uniform(rate).model_dump()}


async def serve_apps(host: str, ports: dict[str, int], apps: dict[str, FastAPI]) -> None:
    """Serve the built emulator apps in this event loop until cancelled."""
    servers = [
        uvicorn.Server(uvicorn.Config(app, host=host, port=ports[name], log_level="warning", access_log=False))
        for name, app in apps.items()
    ]
    await asyncio.gather(*(server.serve() for server in servers))


@cli.command()
def main(
    host: str = "127.0.0.1",
    salesforce_port: int = DEFAULT_PORTS["salesforce"],
    stripe_port: int = DEFAULT_PORTS["stripe"],
    avatax_port: int = DEFAULT_PORTS["avatax"],
    netsuite_port: int = DEFAULT_PORTS["netsuite"],
    xero_port: int = DEFAULT_PORTS["xero"],
    chargebee_port: int = DEFAULT_PORTS["chargebee"],
    hubspot_port: int = DEFAULT_PORTS["hubspot"],
    crm_webhook_url: str = typer.Option(None, help="where Salesforce posts opportunity changes"),
    crm_webhook_secret: str = "whsec_crm_sandbox",
    crm_outbound_url: str = typer.Option(None, help="where Salesforce sends the closed-won Outbound Message (SOAP)"),
    stripe_webhook_url: str = typer.Option(None, help="where Stripe posts events"),
    hubspot_webhook_url: str = typer.Option(None, help="where HubSpot posts webhooks v3 (deal stage changes)"),
    stripe_webhook_secret: str = "whsec_stripe_sandbox",
    chargebee_webhook_url: str = typer.Option(None, help="where Chargebee posts events (basic auth c2c / sandbox)"),
    netsuite_certificate: Path = typer.Option(
        None, help="PEM certificate mapped to --netsuite-client-id (NetSuite's OAuth 2.0 Client Credentials Setup)"
    ),
    netsuite_client_id: str = "c2c-sandbox",
    chaos_seed: int = typer.Option(None, help="seed of the random fault injection (with --chaos-rate)"),
    chaos_rate: float = typer.Option(None, help="probability of each fault kind per vendor request"),
    chaos_profile: str = typer.Option(None, help="chaos profile as JSON, or @file.json (see sandbox/faults.py)"),
) -> None:
    ports = {
        "salesforce": salesforce_port,
        "stripe": stripe_port,
        "avatax": avatax_port,
        "netsuite": netsuite_port,
        "xero": xero_port,
        "chargebee": chargebee_port,
        "hubspot": hubspot_port,
    }
    options: dict[str, dict[str, Any]] = {
        "salesforce": {
            "webhook_url": crm_webhook_url,
            "webhook_secret": crm_webhook_secret,
            "outbound_url": crm_outbound_url,
        },
        "stripe": {"webhook_url": stripe_webhook_url, "webhook_secret": stripe_webhook_secret},
        "chargebee": {"webhook_url": chargebee_webhook_url},
        "hubspot": {"webhook_url": hubspot_webhook_url},
    }
    if netsuite_certificate is not None:
        options["netsuite"] = {"certificates": [(netsuite_client_id, netsuite_certificate.read_text())]}
    spec = chaos_spec(chaos_seed, chaos_rate, chaos_profile)
    apps = {name: build_app(name, **options.get(name, {})) for name in EMULATORS}
    if spec is not None:
        for name, profile in chaos_profiles(spec).items():
            box: FaultBox = apps[name].state.faults
            box.arm_chaos(profile)
        sys.stdout.write(f"chaos on, seed {spec['seed']}: {json.dumps(spec, sort_keys=True)}\n")
    sys.stdout.write(f"sandbox emulators on {host}: {ports}\n")
    sys.stdout.flush()
    asyncio.run(serve_apps(host, ports, apps))


if __name__ == "__main__":
    cli()
