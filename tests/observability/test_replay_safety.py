"""The telemetry interceptors change nothing a replay checks, and a replay records no metrics and writes no logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig
from temporalio.worker import Replayer

from observability.tracing import client_interceptors
from runtime.telemetry import SagaTelemetry
from tests.support.histories import HISTORIES, workflow_of


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_recorded_histories_replay_with_telemetry_and_record_nothing(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    buffer = MetricBuffer(10_000)
    runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
    replayer = Replayer(
        workflows=[workflow_of(path)],
        data_converter=pydantic_data_converter,
        interceptors=[*client_interceptors(), SagaTelemetry()],
        runtime=runtime,
    )
    caplog.set_level(logging.DEBUG, logger="temporalio.workflow")
    history = WorkflowHistory.from_json(f"replay-{path.stem}", path.read_text())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.stem}: {result.replay_failure!r}"
    assert not [u for u in buffer.retrieve_updates() if u.metric.name.startswith("c2c_")]
    assert not [r for r in caplog.records if r.name == "temporalio.workflow"]
