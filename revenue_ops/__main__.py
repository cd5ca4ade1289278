"""`python -m revenue_ops [--state var/revenue-ops.json]`: count settled payments per currency until stopped."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from broker import EventBroker, StreamSpec
from revenue_ops.listener import listen
from settings import get_settings


async def main(state: Path) -> None:
    settings = get_settings()
    if not settings.nats_url:
        raise SystemExit("C2C_NATS_URL is not set")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    spec = StreamSpec.from_settings(settings)
    while True:  # the stream appears with the first publish: wait for it
        broker = await EventBroker.connect(settings.nats_url, spec, name="revenue-ops")
        try:
            await broker.ensure_stream()
            await listen(broker, state, stop)
            return
        finally:
            await broker.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state", type=Path, default=Path("var/revenue-ops.json"))
    asyncio.run(main(parser.parse_args().state))
