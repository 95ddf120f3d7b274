"""Pure functions of the coding pipeline on review feedback: reviewed_at parsing, which review wins,
quality rows from a coder's own CSV."""

from datetime import datetime, timezone

import polars as pl
import pytest

from assets.coding import pipeline as P
from assets.coding.catalog import load_catalog
from assets.coding.config import load_config
from lakehouse.landing import Landing
from lakehouse.tables import coding as T

HEADER = "classification,record_id,code,reviewed_at"


@pytest.fixture(scope="module")
def catalogs():
    config = load_config("crime_types")
    return {"crime_types": load_catalog(config)}


def read(tmp_path, catalogs, files: dict[str, str], records=("r1", "r2", "r3")):
    folder = tmp_path / "landing" / "coding_feedback"
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        (folder / name).write_text(body, encoding="utf-8")
    df, quarantined = P.read_feedback(Landing(tmp_path / "landing"), {"crime_types": set(records)}, catalogs)
    assert quarantined == []
    return df


def latest_codes(df: pl.DataFrame) -> dict[str, str]:
    return dict(P.latest_feedback(df, "crime_types").select("record_id", "code").iter_rows())


@pytest.mark.parametrize("text, expected", [
    ("2024-10-01", datetime(2024, 10, 1)),
    ("2024-9-30", datetime(2024, 9, 30)),
    ("2024-03-05 14:30", datetime(2024, 3, 5, 14, 30)),
    ("2026-11-20T10:00:00", datetime(2026, 11, 20, 10)),
    ("2024-03-05T10:00:00.5Z", datetime(2024, 3, 5, 10, 0, 0, 500000)),
    ("2024-03-05T10:00:00-06:00", datetime(2024, 3, 5, 16)),
    ("05/03/2024", datetime(2024, 3, 5)),          # day first: 5 March
    ("5/3/2024 9:15", datetime(2024, 3, 5, 9, 15)),
    ("  28/02/2024  ", datetime(2024, 2, 28)),
    ("", None), (None, None), ("   ", None),
])
def test_reviewed_at_accepts_iso_and_day_first_dates(text, expected):
    assert P.parse_reviewed_at(text) == expected


@pytest.mark.parametrize("text", ["31/02/2024", "2024-13-01", "03-05-2024", "2024/03/05", "ayer", "05/03/24",
                                  "2024-03-05 25:00"])
def test_reviewed_at_refuses_other_text(text):
    with pytest.raises(ValueError, match="reviewed_at"):
        P.parse_reviewed_at(text)


def test_the_newest_review_wins_by_date_not_by_text(tmp_path, catalogs):
    df = read(tmp_path, catalogs, {
        # day-first as coders in Mexico write it: the correction of 5 March comes in an earlier-sorting file
        "a_ronda2.csv": f"{HEADER}\ncrime_types,r1,FRAUDE,05/03/2024\n",
        "b_ronda1.csv": f"{HEADER}\ncrime_types,r1,EXTORSION,28/02/2024\n",
        # unpadded ISO: 30 September is older than 1 October
        "c.csv": f"{HEADER}\ncrime_types,r2,FRAUDE,2024-10-01\n",
        "d.csv": f"{HEADER}\ncrime_types,r2,EXTORSION,2024-9-30\n",
    })
    assert set(df.get_column("status")) == {"valid"}
    assert latest_codes(df) == {"r1": "FRAUDE", "r2": "FRAUDE"}


def test_undated_rows_rank_before_dated_ones_and_landing_order_breaks_ties(tmp_path, catalogs):
    df = read(tmp_path, catalogs, {
        "a.csv": f"{HEADER}\ncrime_types,r1,FRAUDE,2024-01-01\ncrime_types,r2,FRAUDE,\ncrime_types,r3,FRAUDE,\n",
        # r1: an undated later row does not beat a dated one; r2: both undated, the later file wins;
        # r3: the same day written two ways is a tie, so the later row wins
        "b.csv": f"{HEADER}\ncrime_types,r1,EXTORSION,\ncrime_types,r2,EXTORSION,\n"
                 "crime_types,r3,FRAUDE,2024-01-01\ncrime_types,r3,EXTORSION,01/01/2024\n",
    })
    assert latest_codes(df) == {"r1": "FRAUDE", "r2": "EXTORSION", "r3": "EXTORSION"}


def test_an_unreadable_date_keeps_the_row_out_with_its_file_row_and_reason(tmp_path, catalogs):
    df = read(tmp_path, catalogs, {
        "a.csv": f"{HEADER}\ncrime_types,r1,FRAUDE,2024-01-01\n",
        "b.csv": f"{HEADER}\ncrime_types,r2,FRAUDE,2024-01-02\ncrime_types,r1,EXTORSION,31/02/2024\n",
    })
    bad = df.filter(pl.col("status") == "invalid")
    assert bad.select("source_file", "source_row", "record_id", "invalid_reason").rows() == [
        ("b.csv", 2, "r1", "invalid_reviewed_at")]
    assert latest_codes(df) == {"r1": "FRAUDE", "r2": "FRAUDE"}


def feedback_row(**values) -> dict:
    row = dict(classification="crime_types", record_id="r1", code="FRAUDE", coder=None, reviewed_at=None,
               suggested_code="EXTORSION", queue_reason=None, model_version="v1", source_file="mine.csv",
               source_row=1, status="valid", invalid_reason=None, ingested_at=datetime.now(timezone.utc))
    return {**row, **values}


def test_a_valid_row_with_an_unreadable_date_is_an_error_not_a_silent_order():
    df = pl.DataFrame([feedback_row(reviewed_at="el martes")], schema=T.coding_feedback.full_schema)
    with pytest.raises(ValueError, match="mine.csv row 1"):
        P.latest_feedback(df, "crime_types")


def test_quality_rows_from_a_coders_own_csv_without_queue_reason():
    df = pl.DataFrame([feedback_row(), feedback_row(record_id="r2", code="EXTORSION", source_row=2),
                       feedback_row(record_id="r3", queue_reason="audit", source_row=3)],
                      schema=T.coding_feedback.full_schema)
    rows = P.quality_rows("crime_types", "v2", {}, [], df)
    assert rows.select("level", "split", "n", "accuracy", "auto_share", "auto_precision", "model_version").rows() == [
        ("exact", "review", 3, 1 / 3, 1 / 3, 0.0, "v1")]


def test_code_records_is_typed_even_when_every_record_already_has_a_code(scian_like_config):
    # real registers (RETC) come fully coded: nothing left to code must still stack with other classifications
    from assets.coding.engine import CodingEngine
    from tests.coding.conftest import noisy_records

    engine = CodingEngine(scian_like_config, load_catalog(scian_like_config))
    engine.fit(noisy_records(400))
    training = pl.DataFrame(schema={"record_id": pl.Utf8, "code": pl.Utf8, "origin": pl.Utf8, "status": pl.Utf8})
    coded = pl.DataFrame({"record_id": ["r1"], "text": ["panaderia"], "code": ["311812"], "time": [2020.0],
                          "context": [""]})
    empty, _ = P.code_records(engine, coded, training, None, "v1")
    assert empty.height == 0 and empty.schema == pl.Schema(T.coded_records.full_schema)
    some, _ = P.code_records(engine, coded.with_columns(pl.lit(None, dtype=pl.Utf8).alias("code")), training,
                             None, "v1")
    assert pl.concat([some, empty]).height == 1
