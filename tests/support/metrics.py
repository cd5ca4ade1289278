"""Reading a Prometheus scrape: samples parsed from the text exposition, totals by name and labels."""

from __future__ import annotations

import re

Sample = tuple[str, dict[str, str], float]
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> list[Sample]:
    """Prometheus text exposition -> (name, labels, value) per sample line."""
    samples = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and not line.startswith("#"):
            name, labels, value = match.groups()
            pairs = _LABEL.findall(labels or "")
            assert len(pairs) == len(dict(pairs)), f"a label twice (Prometheus refuses the scrape): {line}"
            samples.append((name, dict(pairs), float(value)))
    return samples


def total(samples: list[Sample], name: str, **labels: str) -> float:
    return sum(v for n, ls, v in samples if n == name and all(ls.get(k) == want for k, want in labels.items()))
