"""Finance's CLI (`python starter.py …`) run in the test's own process: the same typer app, settings from the
environment an operator would export, output captured. A CLI process spends about 2 s of CPU importing before it
does anything, so only tests/test_processes.py's first command runs as a real process; the rest run here."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from rich.console import Console
from typer.testing import CliRunner

from cli import finance
from settings import get_settings


@dataclass(frozen=True)
class Answer:
    returncode: int
    stdout: str


class InProcessCli:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.runner = CliRunner()
        self.lock = asyncio.Lock()  # CliRunner swaps sys.stdout for the whole process: one command at a time

    async def __call__(self, *args: str) -> Answer:
        async with self.lock:
            # asyncio.run inside the command needs a thread without a running loop.
            result = await asyncio.to_thread(self.runner.invoke, finance.cli, list(args), env=self.env)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Answer(result.exit_code, result.output)


@pytest.fixture
def in_process_cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[InProcessCli]]:
    """`in_process_cli(env)` makes a runner; `_leave` exits with SystemExit (which CliRunner catches) instead of
    ending the test process, and the console is wide like an operator's terminal (COLUMNS=200)."""
    monkeypatch.setattr(finance, "_leave", sys.exit)
    monkeypatch.setattr(finance, "console", Console(width=200))
    get_settings.cache_clear()  # settings come from each runner's env
    yield InProcessCli
    get_settings.cache_clear()
