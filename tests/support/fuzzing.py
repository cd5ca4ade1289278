"""Hypothesis settings, strategies and refusal checks of the fuzz tests.

Seeds and profile. Hypothesis settings come from `fuzzing(n)`, never from a global profile (other test
packages use Hypothesis with their own settings):
- default (`C2C_FUZZ_PROFILE` unset or `ci`): derandomized, so every run tries the same examples (each test's
  seed is a hash of the test function) and CI is reproducible; n examples per test, about 3,300 in all, about
  60 s of CPU for the whole package (fixtures included) on 2 cores.
- `C2C_FUZZ_PROFILE=explore`: random seeds and ten times the examples, for a longer hunt on a workstation.
  A failure prints the falsifying example and a `@reproduce_failure(...)` blob; `pytest tests/fuzz
  --hypothesis-seed=N` replays a whole run with seed N.
No example database is written (`database=None`); Hypothesis' own cache in `.hypothesis/` ignores itself in git.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterable
from typing import Any

import httpx
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

PROFILE = os.environ.get("C2C_FUZZ_PROFILE", "ci")


def fuzzing(examples: int, *, shrink: bool = True) -> settings:
    """Hypothesis settings for one fuzz test: `examples` cases (ten times that when exploring).

    `shrink=False` for tests of known findings (xfail): their failure is expected, shrinking it only costs time."""
    explore = PROFILE == "explore"
    phases = [Phase.explicit, Phase.reuse, Phase.generate, *([Phase.shrink, Phase.explain] if shrink else [])]
    return settings(
        max_examples=examples * 10 if explore else examples,
        phases=phases,
        report_multiple_bugs=shrink,  # a known finding (xfail) must fail with its own error, not an ExceptionGroup
        deadline=None,  # a case may wait on the emulators or Temporal; slowness is not what is tested here
        derandomize=not explore,
        database=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,  # fixtures are shared on purpose: each case cleans up after itself
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


# ---- signing and what a refusal must look like ------------------------------------------------------------


def signature(body: bytes, secret: str, at: float | None = None) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>`: the CRM's and Stripe's scheme alike."""
    t = str(int(time.time() if at is None else at))
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def refused(response: httpx.Response, statuses: Iterable[int] | None = None) -> Any:
    """The JSON body of a 4xx (in `statuses` when given); a 5xx or any other answer fails the case."""
    text = response.text[:800]
    assert response.status_code < 500, f"server error {response.status_code} for bad input: {text}"
    assert 400 <= response.status_code, f"bad input accepted with {response.status_code}: {text}"
    if statuses is not None:
        assert response.status_code in set(statuses), f"{response.status_code}: {text}"
    return response.json()


def api_error(response: httpx.Response, status: int, code: str | None = None) -> str:
    """The message of a refusal in the API's shape `{"error": code, "message": reason}`."""
    body = refused(response, [status])
    assert isinstance(body, dict), f"not an API error body: {body}"
    assert set(body) == {"error", "message"}, f"not an API error body: {body}"
    assert isinstance(body["error"], str), body
    assert isinstance(body["message"], str), body
    assert body["message"].strip(), body
    if code is not None:
        assert body["error"] == code, body
    return body["message"]


def names_one_of(text: str, *names: str) -> None:
    """The message names the field or header at fault (any of `names`, case-insensitive)."""
    lowered = text.lower()
    assert any(name.lower() in lowered for name in names), f"{text!r} names none of {names}"


# ---- shared strategies ------------------------------------------------------------------------------------

# Characters that trip parsers: NUL, a lone surrogate (valid in JSON as an escape), right-to-left override,
# fullwidth and mathematical letters, combining marks, an emoji with a zero-width joiner.
TRICKY_TEXT = st.sampled_from(
    ["\x00", "\ud800", "\u202e", "ＡＢＣ", "𝔘𝔫𝔦", "e\u0301", "👩\u200d💻", "'; DROP --", "${x}"]
)
# Long strings are drawn whole (not character by character): generating them is what would cost time.
HUGE_TEXT = st.sampled_from(["x" * 1000, "é" * 5000, "y" * 60_000])
TEXT = st.one_of(st.text(max_size=24), TRICKY_TEXT, HUGE_TEXT)
# Text that can travel in a URL or a header: a lone surrogate cannot be encoded by the client at all.
WIRE_TEXT = TEXT.filter(lambda t: "\ud800" not in t)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([10**30, -(10**40), 2**63, -(2**63) - 1]),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=5,
)


def body_of(value: Any) -> bytes:
    """JSON as a sender would put it on the wire (lone surrogates escaped, as JSON allows)."""
    return json.dumps(value).encode()
