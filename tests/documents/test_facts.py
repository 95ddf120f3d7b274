"""Facts from the statistics: values, ids, sources, confidentiality (never invented)."""

import polars as pl
import pytest

from assets.documents.facts import (
    FactsError,
    compute_facts,
    document_facts,
    normalize_sector,
    reference_geos,
    resolve_geo,
    verify_facts,
)


def by_id(facts: pl.DataFrame) -> dict:
    return {r["fact_id"]: r for r in facts.iter_rows(named=True)}


@pytest.mark.realdata
def test_facts_from_the_real_census_file(real_stats):
    facts = compute_facts(real_stats, sectors=["31-33"])
    f = by_id(facts)
    assert facts.get_column("fact_id").is_unique().all()
    emp = f["31-33:28:2023:employment"]
    assert emp["value"] == 343428 and emp["unit"] == "personas" and emp["status"] == "published"
    assert emp["source_table"] == "silver.industry_stats" and emp["source_rows"] == "25"  # line 25 of the CSV
    assert f["31-33:28:2023:gross_output"]["value"] == pytest.approx(424321.277)
    assert f["31-33:28:2018-2023:employment_growth"]["value"] == pytest.approx(100 * (343428 / 323720 - 1))
    share = f["31-33:28:2023:share_national_employment"]
    assert share["value"] == pytest.approx(100 * 343428 / 7190294)
    assert share["source_rows"] == "6;25"  # the state row and the national row
    assert f["31-33:28:2023:productivity"]["value"] == pytest.approx(203513.422e6 / 343428)
    # Casas (28008) manufacturing 2023 is blank in the export: confidential, null, and nothing derived from it
    casas = facts.filter(pl.col("geo_code") == "28008")
    assert casas.height > 0 and set(casas.get_column("status")) == {"confidential"}
    assert casas.get_column("value").null_count() == casas.height
    assert not casas.filter(pl.col("metric").is_in(["productivity", "share_national_employment"])).height
    # the SAIC export publishes no remuneration nor price index: no fact at all (not "confidential")
    assert not facts.filter(pl.col("metric").str.contains("remuneration|price_index")).height
    assert verify_facts(real_stats, facts) == {"mismatches": 0, "invented": 0, "examples": []}


def test_sample_data_has_wages_prices_and_real_growth(sample_stats):
    facts = compute_facts(sample_stats, sectors=["31-33"], geo_codes=["28"])
    f = by_id(facts)
    row23 = sample_stats.filter((pl.col("geo_code") == "28") & (pl.col("sector_code") == "31-33")
                                & (pl.col("census_year") == 2023)).row(0, named=True)
    row03 = sample_stats.filter((pl.col("geo_code") == "28") & (pl.col("sector_code") == "31-33")
                                & (pl.col("census_year") == 2003)).row(0, named=True)
    assert f["31-33:28:2023:remuneration_per_worker"]["value"] == pytest.approx(
        row23["remuneration"] * 1e6 / row23["employment"])
    assert f["31-33:28:2003-2023:price_index_change"]["value"] == pytest.approx(
        100 * (row23["price_index"] / row03["price_index"] - 1))
    real = (row23["value_added"] / row23["price_index"]) / (row03["value_added"] / row03["price_index"])
    assert f["31-33:28:2003-2023:value_added_real_growth"]["value"] == pytest.approx(100 * (real - 1))
    assert set(facts.get_column("geo_code")) == {"28"}  # national rows read, not returned
    # money is in millions of pesos as in the SAIC: a manufacturing worker adds hundreds of thousands of pesos a
    # year and earns about a hundred thousand (the demo once said 2,128 and 751 pesos)
    assert 200_000 < f["31-33:28:2023:productivity"]["value"] < 2_000_000
    assert 50_000 < f["31-33:28:2023:remuneration_per_worker"]["value"] < 800_000


def test_sample_confidential_cells_stay_null(sample_stats):
    blanks = sample_stats.filter(pl.col("value_added").is_null())
    assert blanks.height > 0  # the generator blanks small municipal cells like INEGI does
    r = blanks.row(0, named=True)
    facts = compute_facts(sample_stats, sectors=[r["sector_code"]], geo_codes=[r["geo_code"]])
    va = by_id(facts)[f"{r['sector_code']}:{r['geo_code']}:{r['census_year']}:value_added"]
    assert va["value"] is None and va["status"] == "confidential"


def test_verify_facts_catches_a_changed_or_invented_value(sample_stats):
    facts = compute_facts(sample_stats, sectors=["46"])
    tampered = facts.with_columns(
        pl.when(pl.col("fact_id") == "46:28:2023:employment").then(pl.col("value") + 1)
        .otherwise(pl.col("value")).alias("value"))
    found = verify_facts(sample_stats, tampered)
    assert found["mismatches"] == 1 and "46:28:2023:employment" in found["examples"][0]
    blank = facts.filter(pl.col("status") == "confidential").head(1)
    if blank.height:
        invented = facts.with_columns(pl.when(pl.col("fact_id") == blank.item(0, "fact_id")).then(1.0)
                                      .otherwise(pl.col("value")).alias("value"))
        assert verify_facts(sample_stats, invented)["invented"] == 1


def test_sector_and_geography_lookup(sample_stats):
    known = sample_stats.get_column("sector_code").unique().to_list()
    assert normalize_sector("31-33", known) == "31-33"
    assert normalize_sector("32", known) == "31-33"
    assert normalize_sector("48", known) == "48-49"
    with pytest.raises(FactsError, match="sector '99' is not in the data"):
        normalize_sector("99", known)
    assert resolve_geo(sample_stats, None)[0] == "28"  # the only state
    assert resolve_geo(sample_stats, "reynosa")[0] == "28032"
    assert resolve_geo(sample_stats, "Nacional")[0] == "00"
    with pytest.raises(FactsError, match="did you mean Reynosa"):
        resolve_geo(sample_stats, "Reyn")
    assert reference_geos("28032") == ["28032", "28", "00"]


def test_document_facts_need_the_geography(sample_stats):
    facts = compute_facts(sample_stats, sectors=["23"])
    doc = document_facts(facts, "23", "28032")
    assert {f.geo_code for f in doc} == {"28032", "28", "00"}
    with pytest.raises(FactsError, match="no facts for sector 23 in geography 99999"):
        document_facts(facts, "23", "99999")


def test_bad_sector_code_names_the_row():
    stats = pl.DataFrame({"census_year": [2023], "geo_code": ["28"], "geo_name": ["Tamaulipas"],
                          "geo_level": ["state"], "sector_code": ["manufactura"], "sector_title": ["x"],
                          "employment": [1.0], "source_row": [17]})
    with pytest.raises(FactsError, match="source_row 17"):
        compute_facts(stats)
