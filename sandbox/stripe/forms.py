"""Stripe's bracketed form encoding read back into nested values, and typed access to the result."""

from __future__ import annotations

import re
from typing import Any

from sandbox.stripe.errors import InvalidParams

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def parse_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`metadata[a]=1`, `items[0][price]=p`, `expand[]=x` -> {"metadata": {"a": "1"}, "items": [...], ...}."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        name, bracket, rest = key.partition("[")
        segments = _SEGMENT.findall(bracket + rest)
        if not name or "".join(f"[{s}]" for s in segments) != bracket + rest:
            raise InvalidParams(f"Invalid parameter name: {key}", param=key, code="parameter_unknown")
        if any(s == "" for s in segments[:-1]):
            raise InvalidParams(f"Invalid array parameter: {key}", param=key)
        node = root
        path = [name, *segments]
        for depth, segment in enumerate(path[:-1]):
            child = node.setdefault(segment, {})
            if not isinstance(child, dict):
                raise InvalidParams(f"Invalid object: {'.'.join(path[: depth + 1])}", param=name)
            node = child
        last = path[-1]
        if last == "":
            last = str(len(node))
        if isinstance(node.get(last), dict):
            raise InvalidParams(f"Invalid value for {key}: expected an object", param=key)
        node[last] = value
    result = _listify(root)
    assert isinstance(result, dict)
    return result


def _listify(value: Any) -> Any:
    """Objects whose keys are all array indices become lists in index order."""
    if not isinstance(value, dict):
        return value
    items = {k: _listify(v) for k, v in value.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


class Params:
    """The parsed parameters of one request (or sub-object), raising Stripe's validation errors.

    `allowed` lists the accepted names; None accepts any (metadata)."""

    def __init__(self, values: dict[str, Any], allowed: frozenset[str] | None, prefix: str = "") -> None:
        self.values = values
        self.prefix = prefix
        for name in values:
            if allowed is not None and name not in allowed and name != "expand":
                label = self._label(name)
                raise InvalidParams(f"Received unknown parameter: {label}", param=label, code="parameter_unknown")

    def _label(self, name: str) -> str:
        return f"{self.prefix}[{name}]" if self.prefix else name

    def has(self, name: str) -> bool:
        return self.values.get(name) not in (None, "")

    def text(self, name: str, *, required: bool = False, choices: tuple[str, ...] = ()) -> str | None:
        value = self.values.get(name)
        if value in (None, ""):
            if required:
                raise InvalidParams(
                    f"Missing required param: {self._label(name)}.", param=self._label(name), code="parameter_missing"
                )
            return None
        if not isinstance(value, str):
            raise InvalidParams(f"Invalid string: {self._label(name)}", param=self._label(name))
        if choices and value not in choices:
            raise InvalidParams(
                f"Invalid {self._label(name)}: must be one of {', '.join(choices)}",
                param=self._label(name),
                code="parameter_invalid_string",
            )
        return value

    def req(self, name: str, *, choices: tuple[str, ...] = ()) -> str:
        value = self.text(name, required=True, choices=choices)
        assert value is not None
        return value

    def integer(self, name: str, *, required: bool = False, minimum: int | None = None) -> int | None:
        raw = self.text(name, required=required)
        if raw is None:
            return None
        if not re.fullmatch(r"-?\d+", raw):
            raise InvalidParams(f"Invalid integer: {raw}", param=self._label(name), code="parameter_invalid_integer")
        value = int(raw)
        if minimum is not None and value < minimum:
            raise InvalidParams(
                f"Invalid {self._label(name)}: must be at least {minimum}",
                param=self._label(name),
                code="parameter_invalid_integer",
            )
        return value

    def flag(self, name: str) -> bool | None:
        raw = self.text(name)
        if raw is None:
            return None
        if raw not in ("true", "false"):
            raise InvalidParams(f"Invalid boolean: {raw}", param=self._label(name), code="parameter_invalid_boolean")
        return raw == "true"

    def obj(self, name: str, allowed: frozenset[str] | None = None) -> Params | None:
        value = self.values.get(name)
        if value in (None, ""):
            return None
        if not isinstance(value, dict):
            raise InvalidParams(f"Invalid object: {self._label(name)}", param=self._label(name))
        return Params(value, allowed, self._label(name))

    def metadata(self, name: str = "metadata") -> dict[str, str]:
        """Metadata keys with an empty value are unset, as in Stripe."""
        sub = self.obj(name)
        if sub is None:
            return {}
        if not all(isinstance(v, str) for v in sub.values.values()):
            raise InvalidParams(f"Invalid metadata: {self._label(name)}", param=self._label(name))
        return {k: v for k, v in sub.values.items()}

    def objects(self, name: str, allowed: frozenset[str]) -> list[Params]:
        value = self.values.get(name)
        if value in (None, ""):
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise InvalidParams(f"Invalid array: {self._label(name)}", param=self._label(name))
        return [Params(v, allowed, f"{self._label(name)}[{i}]") for i, v in enumerate(value)]

    def strings(self, name: str) -> list[str]:
        value = self.values.get(name)
        if value in (None, ""):
            return []
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidParams(f"Invalid array: {self._label(name)}", param=self._label(name))
        return list(value)
