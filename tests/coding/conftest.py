"""Fixtures of the coding tests: synthetic coded records, and a sample lakehouse coded in-process."""

from __future__ import annotations

import random
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from resources.lakehouse import LakehouseResource
from resources.llm import LLMResource

REPO_ROOT = Path(__file__).resolve().parents[2]


def coding_defs(resources: dict) -> dg.Definitions:
    from assets.coding.defs import coding_assets
    from assets.ingestion.defs import ingestion_assets

    return dg.Definitions(assets=[*ingestion_assets, *coding_assets], resources=resources)


def run_coding(resources: dict, instance: dg.DagsterInstance, run_config: dict | None = None,
               ingest: bool = True) -> list[dg.ExecuteInProcessResult]:
    """Materialize the coding group (and, with ``ingest``, the ingestion assets it reads) in-process."""
    from pipelines.demo import materialize_everything

    defs = coding_defs(resources)
    graph = defs.resolve_asset_graph()
    selection = dg.AssetSelection.groups("coding")
    if ingest:
        selection = selection.upstream()
        return materialize_everything(defs, resources, instance, keys=selection.resolve(graph))
    return [dg.materialize(list(defs.assets), selection=selection, resources=resources, instance=instance,
                           run_config=run_config or {})]


@pytest.fixture
def sample_lake(tmp_path):
    """(resources, instance, landing root): the sample landing zone ingested and coded into tmp_path."""
    from assets.ingestion.sample_data import generate

    root = tmp_path / "lake"
    generate(root / "landing", seed=7)
    resources = {"lakehouse": LakehouseResource(root=str(root), landing_root=str(root / "landing")),
                 "llm": LLMResource()}
    instance = dg.DagsterInstance.ephemeral()
    run_coding(resources, instance)
    return resources, instance, root / "landing"


def noisy_records(n: int = 900, seed: int = 3) -> pl.DataFrame:
    """Synthetic census-like answers for 6-digit codes in two 4-digit groups, with a confusable zone.

    Codes 311811/311812 (bread) share the prefix 3118; 461110/461121 (shops) share 4611; ``ambiguous``
    texts mention both bakery and shop words and are coded at random between 311812 and 461110, so a
    calibrated model must doubt them.
    """
    rng = random.Random(seed)
    words = {
        "311811": ["panificacion industrial", "fabrica de pan de caja", "pan empacado industrial"],
        "311812": ["panaderia tradicional", "pan dulce y bolillo", "elaboracion de pan artesanal"],
        "461110": ["tienda de abarrotes", "miscelanea de barrio", "venta de abarrotes y refrescos"],
        "461121": ["carniceria", "venta de carne de res", "expendio de carne de cerdo"],
    }
    rows = []
    for i in range(n):
        year = 2015 + i % 6
        if rng.random() < 0.2:
            text = f"{rng.choice(words['311812'])} y {rng.choice(words['461110'])}"
            code = rng.choice(["311812", "461110"])
        else:
            code = rng.choice(list(words))
            text = rng.choice(words[code]) + rng.choice(["", " en local propio", " al menudeo", " familiar"])
        rows.append({"text": text, "code": code, "time": float(year), "context": None})
    return pl.DataFrame(rows, schema={"text": pl.Utf8, "code": pl.Utf8, "time": pl.Float64, "context": pl.Utf8})


@pytest.fixture
def scian_like_config(tmp_path):
    """A small hierarchical classification defined only by a YAML file (no code)."""
    from assets.coding.config import load_config

    path = tmp_path / "mini_scian.yaml"
    path.write_text("""
name: mini_scian
title: Mini SCIAN for tests
code_pattern: "^[0-9]{6}$"
levels: [2, 4, 6]
catalog:
  source: inline
  codes:
    - {code: "311811", title: "Panificación industrial"}
    - {code: "311812", title: "Panificación tradicional"}
    - {code: "461110", title: "Comercio al por menor en tiendas de abarrotes"}
    - {code: "461121", title: "Comercio al por menor de carnes rojas"}
    - {code: "722514", title: "Restaurantes con servicio de preparación de tacos y tortas"}
engine:
  validation_fraction: 0.2
  min_auto: 10
""", encoding="utf-8")
    return load_config(path)
