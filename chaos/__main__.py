"""`python -m chaos --deals 200 --seed N`: the chaos run (see chaos/run.py); exit 0 only if the checker passes."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path

import typer
from rich.console import Console

from chaos.run import RunConfig, run_chaos
from chaos.summary import print_summary
from sandbox.faults import ChaosRates

console = Console(width=None if sys.stdout.isatty() else 160)
cli = typer.Typer(add_completion=False)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@cli.command()
def main(
    deals: int = typer.Option(200, help="deals to create and close"),
    seed: int = typer.Option(None, help="seed of every random choice (default: a random one, printed)"),
    kills: int = typer.Option(4, help="times the worker is SIGKILLed and replaced"),
    server_restart: bool = typer.Option(True, help="SIGKILL and restart the Temporal server once mid-run"),
    rate: float = typer.Option(None, help="every fault kind at this rate per request (default: the run's mix)"),
    timeout: float = typer.Option(1800, help="seconds to wait for the sagas to settle"),
    var: Path = typer.Option(Path("var/chaos"), help="the run's directory: Temporal file, store, logs (replaced)"),
) -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    config = RunConfig(deals=deals, seed=seed if seed is not None else random.randrange(10**6), kills=kills)
    config.server_restart, config.timeout, config.var = server_restart, timeout, var
    if rate is not None:
        config.rates = ChaosRates.uniform(rate)
    status = 1
    try:
        outcome = asyncio.run(run_chaos(config, say=console.print))
        print_summary(console, outcome)
        status = 0 if outcome.report.ok else 1
    except KeyboardInterrupt:
        console.print("interrupted")
    sys.stdout.flush()
    os._exit(status)  # see ARCHITECTURE.md: no interpreter-exit abort after a Temporal client


if __name__ == "__main__":
    cli()
