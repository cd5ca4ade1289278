"""The scale-out bench's plumbing: N real worker processes share one burst, and the ceiling is read from where the
CPU went. No timing is asserted (the box is shared): only who ran what, and the reading of given numbers."""

from __future__ import annotations

from pathlib import Path

from bench.estate import bench_estate
from bench.scale import Point, point, stopped_at


async def test_two_worker_processes_both_run_activities_of_a_burst(tmp_path: Path) -> None:
    async with bench_estate() as estate:
        result = await point(estate, 2, 4, tmp_path)

    assert len(result.activities) == 2, "the point lists each of its two worker processes"
    assert all(n > 0 for n in result.activities.values()), f"a worker process ran no activity: {result.activities}"
    assert len(result.cash) == 4, "every saga of the burst was read back"
    assert all(s > 0 for s in result.cash), "every saga of the burst applied its cash"
    assert result.cpu["workers"] > 0, "the worker processes' CPU was read"


def _point(workers: int, rate: float, cpu: dict[str, float], busiest: tuple[str, float]) -> Point:
    wall = 10.0
    return Point(workers, round(rate * wall), wall, [1.0, 2.0], cpu, busiest, {1: 1}, {}, {})


def test_the_ceiling_names_the_saturated_resource() -> None:
    cpu = {"workers": 6.0, "server": 5.0, "sandbox": 3.0, "bench": 1.0, "box": 19.5}
    assert _point(2, 1.0, cpu, ("server", 5.0)).ceiling(2).startswith("CPU-bound: the box's 2 cores busy")
    idle_box = {**cpu, "box": 12.0}
    assert _point(2, 1.0, idle_box, ("sandbox", 9.5)).ceiling(2).startswith("one process at a full core: sandbox")
    assert _point(2, 1.0, idle_box, ("server", 5.0)).ceiling(2).startswith("not CPU")


def test_scaling_stops_at_the_first_point_that_gains_too_little() -> None:
    cpu = {"workers": 1.0, "server": 1.0, "sandbox": 1.0, "bench": 1.0, "box": 1.0}
    points = [_point(n, rate, cpu, ("server", 1.0)) for n, rate in ((1, 1.0), (2, 1.8), (4, 1.9))]
    assert stopped_at(points) is points[2]
    assert stopped_at(points[:2]) is None


def test_under_the_limits_the_ceiling_is_the_vendor_served_nearest_its_limit() -> None:
    cpu = {"workers": 6.0, "server": 5.0, "sandbox": 3.0, "bench": 1.0, "box": 19.5}
    limited = Point(2, 10, 10.0, [1.0], cpu, ("server", 5.0), {1: 1}, {}, {"netsuite": 60, "stripe": 100}, True)
    assert limited.ceiling(2).startswith("vendor limit: netsuite at 92% of its 6.5/s")
    unlimited = Point(2, 10, 10.0, [1.0], cpu, ("server", 5.0), {1: 1}, {}, {"netsuite": 60, "stripe": 100})
    assert unlimited.ceiling(2).startswith("CPU-bound")
