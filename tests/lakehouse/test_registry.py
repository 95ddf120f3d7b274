"""The table registry: an explicit list of every domain's specs, no registration by import, no cycle."""

import ast
import importlib
from pathlib import Path

import polars as pl
import pytest

import lakehouse
from lakehouse import LakehouseError, TableSpec, all_tables, get_table
from lakehouse.registry import build_registry
from lakehouse.tables import ALL_TABLES, DOMAIN_MODULES

LAKEHOUSE_DIR = Path(lakehouse.__file__).parent


def test_every_declared_spec_is_listed_once():
    for module in DOMAIN_MODULES:
        declared = [v for v in vars(module).values() if isinstance(v, TableSpec)]
        assert declared, module.__name__
        assert sorted(s.key for s in declared) == sorted(s.key for s in module.TABLES), module.__name__
        assert all(s.domain == module.__name__.rsplit(".", 1)[1] for s in module.TABLES), module.__name__
    domain_files = {p.stem for p in (LAKEHOUSE_DIR / "tables").glob("*.py")} - {"__init__"}
    assert domain_files == {m.__name__.rsplit(".", 1)[1] for m in DOMAIN_MODULES}
    assert len({s.key for s in ALL_TABLES}) == len(ALL_TABLES)
    assert {s.key for s in all_tables()} == {s.key for s in ALL_TABLES}


def test_lookup_and_order():
    assert get_table("silver.news_articles") is importlib.import_module("lakehouse.tables.ingestion").silver_news
    with pytest.raises(LakehouseError, match="unknown table 'silver.nope'"):
        get_table("silver.nope")
    layers = [s.layer for s in all_tables()]
    assert layers == sorted(layers, key=("bronze", "silver", "gold").index)


def test_a_key_declared_twice_is_an_error():
    a = TableSpec("silver", "twice", {"id": pl.Utf8()}, primary_key=("id",))
    b = TableSpec("silver", "twice", {"id": pl.Utf8(), "x": pl.Int64()}, primary_key=("id",))
    with pytest.raises(LakehouseError, match="silver.twice is declared twice"):
        build_registry([a, b])
    with pytest.raises(LakehouseError, match="declared twice"):
        build_registry([*ALL_TABLES, ALL_TABLES[0]])


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def test_specs_do_not_import_the_registry():
    """Table modules and the spec module import neither the registry nor the lakehouse package (no cycle)."""
    for path in [LAKEHOUSE_DIR / "spec.py", *sorted((LAKEHOUSE_DIR / "tables").glob("*.py"))]:
        imported = _imports(path)
        assert not {m for m in imported if m == "lakehouse.registry" or m.startswith("lakehouse.registry.")}, path
        assert "lakehouse" not in imported and "lakehouse.delta" not in imported, path


def test_every_column_of_every_table_is_described():
    for spec in all_tables():
        docs = spec.column_descriptions
        assert list(docs) == spec.columns, spec.key
        for col, doc in docs.items():
            assert doc.strip(), f"{spec.key}.{col} has no description (declare it as Col(dtype, description))"
            assert len(doc) >= 12 and doc.rstrip(".").lower() != col.replace("_", " "), \
                f"{spec.key}.{col}: {doc!r} does not say what the column means"
            assert "  " not in doc and doc == doc.strip(), f"{spec.key}.{col}: stray whitespace in {doc!r}"


def test_columns_declare_dtype_and_description_together():
    from lakehouse.spec import LINEAGE_DOCS, LINEAGE_SCHEMA, Col

    spec = TableSpec("bronze", "probe", {"id": Col(pl.Utf8(), "The probe's id."), "n": pl.Int64()},
                     primary_key=("id",), lineage=True, column_docs={"n": "A count."})
    assert spec.schema == {"id": pl.Utf8(), "n": pl.Int64()}
    assert spec.column_descriptions == {"id": "The probe's id.", "n": "A count.", **LINEAGE_DOCS}
    assert set(LINEAGE_DOCS) == set(LINEAGE_SCHEMA)
    assert spec == TableSpec("bronze", "probe", {"id": pl.Utf8(), "n": pl.Int64()}, primary_key=("id",),
                             lineage=True, column_docs={"id": "The probe's id.", "n": "A count."})
    with pytest.raises(LakehouseError, match="description of unknown column 'nope'"):
        TableSpec("silver", "probe", {"id": pl.Utf8()}, column_docs={"nope": "x"})
    with pytest.raises(LakehouseError, match="described twice"):
        TableSpec("silver", "probe", {"id": Col(pl.Utf8(), "one")}, column_docs={"id": "two"})
    assert TableSpec("silver", "bare", {"id": pl.Utf8()}).column_descriptions == {"id": ""}
