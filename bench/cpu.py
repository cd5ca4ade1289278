"""CPU accounting for the bench's parts: processes read with psutil, the whole box from /proc/stat."""

from __future__ import annotations

import psutil


def box_busy() -> float:
    """CPU seconds the whole machine spent busy (every process, ours or not)."""
    t = psutil.cpu_times()
    # guest time is already in user time; steal is the hypervisor's, not work done here
    idle = t.idle + sum(getattr(t, f, 0.0) for f in ("iowait", "steal", "guest", "guest_nice"))
    return float(sum(t) - idle)


class CpuSince:
    """CPU seconds (user + system) of the named processes and of the whole box, from now on."""

    def __init__(self, procs: dict[str, psutil.Process]) -> None:
        self._procs = procs
        self._start = self._read()

    def _read(self) -> dict[str, float]:
        used = {name: sum(p.cpu_times()[:2]) for name, p in self._procs.items()}
        return {**used, "box": box_busy()}

    def spent(self) -> dict[str, float]:
        now = self._read()
        return {name: now[name] - self._start[name] for name in now}
