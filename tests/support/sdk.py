"""The vendors' official Python SDKs (test dependencies), loaded on first use.

Every xdist worker collects every test module, so an SDK imported at a module's top was imported by each worker,
though one worker runs its tests: chargebee alone costs 2.4 s of CPU to import, the four SDKs 4.7 s, times four
workers. `vendor_sdk` returns the module unloaded; its first attribute read (in a test) loads it. A missing SDK skips
the module, as `pytest.importorskip` does.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest


def vendor_sdk(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        pytest.skip(f"{name} is not installed", allow_module_level=True)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
