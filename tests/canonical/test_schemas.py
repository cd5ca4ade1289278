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
    stray = sorted({path.name for path in schemas.SCHEMA_DIR.iterdir()} - set(schemas.render()) - schemas.superseded())
    assert not stray, f"files no model renders: {stray}; {HINT}"


def test_every_model_has_a_versioned_schema() -> None:
    current = {m.__name__: schemas.VERSIONS.get(m.__name__, schemas.VERSION) for m in schemas.MODELS}
    assert sorted(schemas.render()) == sorted(f"{name}.{version}.json" for name, version in current.items())


def test_earlier_versions_stay_published() -> None:
    missing = sorted(name for name in schemas.superseded() if not (schemas.SCHEMA_DIR / name).is_file())
    assert not missing, f"a published schema version was removed: {missing}"
    assert "Invoice.v1.json" in schemas.superseded()
