"""The committed JSON Schemas are exactly what the canonical models render."""

from __future__ import annotations

from canonical import schemas

HINT = "run `make schemas` and commit canonical/schemas/"


def test_every_rendered_schema_matches_the_committed_file() -> None:
    stale = [
        name
        for name, text in schemas.render().items()
        if not (schemas.SCHEMA_DIR / name).is_file() or (schemas.SCHEMA_DIR / name).read_text() != text
    ]
    assert not stale, f"schemas out of date: {stale}; {HINT}"


def test_no_stray_files_in_the_schema_folder() -> None:
    stray = sorted({path.name for path in schemas.SCHEMA_DIR.iterdir()} - set(schemas.render()))
    assert not stray, f"files no model renders: {stray}; {HINT}"


def test_every_model_has_a_versioned_schema() -> None:
    assert sorted(schemas.render()) == sorted(f"{m.__name__}.{schemas.VERSION}.json" for m in schemas.MODELS)
