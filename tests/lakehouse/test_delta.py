"""The one write path: schema enforcement, partition rewrite, merge, evolution, time travel."""

import polars as pl
import pytest

from lakehouse import Lakehouse, LakehouseError, SchemaError, TableSpec

SPEC = TableSpec("silver", "things", {"id": pl.Utf8(), "day": pl.Utf8(), "value": pl.Float64()},
                 primary_key=("id",), partition_by="day")


@pytest.fixture
def lake(tmp_path):
    return Lakehouse(tmp_path / "root")


def frame(rows):
    return pl.DataFrame(rows, schema={"id": pl.Utf8, "day": pl.Utf8, "value": pl.Float64}, orient="row")


def test_overwrite_then_read_back(lake):
    lake.write(SPEC, frame([("a", "d1", 1.0), ("b", "d2", 2.0)]))
    assert lake.read(SPEC).sort("id").to_dicts() == [
        {"id": "a", "day": "d1", "value": 1.0}, {"id": "b", "day": "d2", "value": 2.0}]
    assert lake.version(SPEC) == 0


def test_partition_rewrite_replaces_only_that_partition_and_is_idempotent(lake):
    lake.write(SPEC, frame([("a", "d1", 1.0), ("b", "d1", 2.0), ("c", "d2", 3.0)]))
    new = frame([("a2", "d1", 10.0)])
    lake.write(SPEC, new, mode="partitions")
    once = lake.read(SPEC).sort("id")
    lake.write(SPEC, new, mode="partitions")
    twice = lake.read(SPEC).sort("id")
    assert once.equals(twice)
    assert once.get_column("id").to_list() == ["a2", "c"]


def test_partition_listed_but_absent_from_data_is_emptied(lake):
    lake.write(SPEC, frame([("a", "d1", 1.0), ("c", "d2", 3.0)]))
    lake.write(SPEC, frame([]), mode="partitions", partitions=["d1"])
    assert lake.read(SPEC).get_column("id").to_list() == ["c"]


def test_merge_upserts_on_primary_key(lake):
    lake.write(SPEC, frame([("a", "d1", 1.0), ("b", "d1", 2.0)]))
    lake.write(SPEC, frame([("b", "d1", 20.0), ("z", "d3", 9.0)]), mode="merge")
    got = dict(lake.read(SPEC).select("id", "value").iter_rows())
    assert got == {"a": 1.0, "b": 20.0, "z": 9.0}


@pytest.mark.parametrize("bad, message", [
    (pl.DataFrame({"id": ["a"], "day": ["d"]}), "column 'value' is missing"),
    (pl.DataFrame({"id": ["a"], "day": ["d"], "value": [1.0], "oops": [1]}), "column 'oops' is not in the declared"),
    (pl.DataFrame({"id": ["a", "b"], "day": ["d", "d"], "value": ["1.5", "abc"]}), "row 1 has value 'abc'"),
    (pl.DataFrame({"id": [None], "day": ["d"], "value": [1.0]}, schema={"id": pl.Utf8, "day": pl.Utf8,
                                                                       "value": pl.Float64}),
     "key column 'id' is null in row 0"),
    (pl.DataFrame({"id": ["a", "a"], "day": ["d", "d"], "value": [1.0, 2.0]}), "appears more than once"),
    (pl.DataFrame({"id": ["b", "a", "c", "a"], "day": ["d"] * 4, "value": [1.0] * 4}),
     r"primary key \{'id': 'a'\} appears more than once \(row 1\)"),    # not sorted: found by hashes
])
def test_schema_violation_names_the_column_and_writes_nothing(lake, bad, message):
    lake.write(SPEC, frame([("keep", "d0", 0.0)]))
    with pytest.raises(SchemaError, match=message):
        lake.write(SPEC, bad, mode="append")
    assert lake.version(SPEC) == 0
    assert lake.read(SPEC).get_column("id").to_list() == ["keep"]


def test_schema_violation_on_new_table_creates_nothing(lake):
    with pytest.raises(SchemaError):
        lake.write(SPEC, pl.DataFrame({"id": ["a"]}))
    assert not lake.exists(SPEC)


def test_additive_evolution_allowed_other_changes_refused(lake):
    lake.write(SPEC, frame([("a", "d1", 1.0)]))
    wider = TableSpec("silver", "things", {**SPEC.schema, "note": pl.Utf8()}, primary_key=("id",),
                      partition_by="day")
    lake.write(wider, pl.DataFrame({"id": ["b"], "day": ["d2"], "value": [2.0], "note": ["new"]}), mode="merge")
    rows = {r["id"]: r["note"] for r in lake.read(wider).to_dicts()}
    assert rows == {"a": None, "b": "new"}
    retyped = TableSpec("silver", "things", {"id": pl.Utf8(), "day": pl.Utf8(), "value": pl.Utf8(),
                                             "note": pl.Utf8()}, primary_key=("id",), partition_by="day")
    with pytest.raises(SchemaError, match="changes type"):
        lake.write(retyped, pl.DataFrame({"id": ["c"], "day": ["d"], "value": ["x"], "note": [None]}))
    with pytest.raises(SchemaError, match="drops column"):
        lake.write(SPEC, frame([("c", "d", 1.0)]))


def test_a_key_stored_in_another_partition_is_refused_and_nothing_is_written(lake):
    lake.write(SPEC, frame([("a", "d1", 1.0), ("b", "d1", 2.0)]), mode="partitions")
    version = lake.version(SPEC)
    with pytest.raises(SchemaError, match=r"primary key \{'id': 'a'\} in row 1 is already stored \(partition day='d1'\)"):
        lake.write(SPEC, frame([("c", "d2", 3.0), ("a", "d2", 9.0)]), mode="partitions")
    with pytest.raises(SchemaError, match="already stored"):
        lake.write(SPEC, frame([("b", "d3", 3.0)]), mode="append")
    assert lake.version(SPEC) == version and lake.read(SPEC).height == 2
    # rewriting the partition that holds the key is what a correction does
    lake.write(SPEC, frame([("a", "d1", 9.0)]), mode="partitions")
    assert lake.read(SPEC).rows() == [("a", "d1", 9.0)]


def test_casts_that_would_change_values_are_refused(lake):
    counts = TableSpec("silver", "counts", {"cve_geo": pl.Utf8(), "beds": pl.Int64()}, primary_key=("cve_geo",))
    with pytest.raises(SchemaError, match=r"'cve_geo'.*row 0 has the number 7089.*leading zeros"):
        lake.write(counts, pl.DataFrame({"cve_geo": [7089], "beds": [3]}))
    with pytest.raises(SchemaError, match=r"'beds'.*row 1 has value 0.5 with a fractional part"):
        lake.write(counts, pl.DataFrame({"cve_geo": ["07089", "28022"], "beds": [12.0, 0.5]}))
    assert not lake.exists(counts)
    lake.write(counts, pl.DataFrame({"cve_geo": ["07089"], "beds": [12.0]}))    # whole floats are whole numbers
    assert lake.read(counts).rows() == [("07089", 12)]


def test_a_column_added_to_the_definition_reads_as_nulls_before_any_write(lake):
    lake.write(SPEC, frame([("a", "d1", 1.0), ("b", "d2", 2.0)]))
    wider = TableSpec("silver", "things", {**SPEC.schema, "note": pl.Utf8()}, primary_key=("id",),
                      partition_by="day")
    df = lake.read(wider)
    assert df.columns == ["id", "day", "value", "note"] and df.schema["note"] == pl.Utf8
    assert df.get_column("note").to_list() == [None, None]
    assert lake.read(wider, columns=["note"]).height == 2            # only the new column: still every row
    assert lake.read(wider, columns=["id", "note"]).columns == ["id", "note"]
    with pytest.raises(LakehouseError, match="no column"):
        lake.read(wider, columns=["nope"])


def test_time_travel_reads_old_versions(lake):
    lake.write(SPEC, frame([("a", "d1", 1.0)]))
    lake.write(SPEC, frame([("a", "d1", 5.0)]), mode="merge")
    assert lake.read(SPEC, version=0).get_column("value").to_list() == [1.0]
    assert lake.read(SPEC).get_column("value").to_list() == [5.0]
    assert len(lake.history(SPEC)) == 2


@pytest.mark.parametrize("mode", ["partitions", "merge"])
def test_first_writes_racing_on_a_new_table_keep_each_others_rows(lake, monkeypatch, mode):
    # run A saw "no table" just before run B created it and wrote its own batch
    stale = {"left": 1}
    real = Lakehouse._table

    def racing(self, spec, version=None):
        if stale["left"]:
            stale["left"] -= 1
            lake_b = Lakehouse(self.root)
            monkeypatch.setattr(Lakehouse, "_table", real)
            lake_b.write(SPEC, frame([("b", "d2", 2.0)]), mode=mode)
            monkeypatch.setattr(Lakehouse, "_table", racing)
            return None
        return real(self, spec, version)

    monkeypatch.setattr(Lakehouse, "_table", racing)
    lake.write(SPEC, frame([("a", "d1", 1.0)]), mode=mode)
    monkeypatch.setattr(Lakehouse, "_table", real)
    assert lake.read(SPEC).sort("id").get_column("id").to_list() == ["a", "b"]


def test_partition_mode_needs_a_partition_column(lake):
    spec = TableSpec("gold", "flat", {"id": pl.Utf8()}, primary_key=("id",))
    with pytest.raises(LakehouseError, match="no partition column"):
        lake.write(spec, pl.DataFrame({"id": ["a"]}), mode="partitions")


def test_object_store_uri_is_accepted_without_touching_local_disk():
    lake = Lakehouse("s3://bucket/prefix/", {"AWS_REGION": "us-east-1"})
    assert lake.remote and lake.uri(SPEC) == "s3://bucket/prefix/silver/things"
    assert lake.storage_options == {"AWS_REGION": "us-east-1"}


# ---- the stored-key check reads the log's key statistics first: it must never rule out a file holding a key
def test_a_key_in_a_file_that_mixes_partitions_is_found(lake):
    # a full overwrite writes one file holding every partition: its statistics span them all
    lake.write(SPEC, frame([("a", "d1", 1.0), ("m", "d2", 2.0), ("z", "d3", 3.0)]))
    with pytest.raises(SchemaError, match=r"\{'id': 'm'\} in row 0 is already stored \(partition day='d2'\)"):
        lake.write(SPEC, frame([("m", "d9", 0.0)]), mode="partitions")
    lake.write(SPEC, frame([("a", "d1", 5.0)]), mode="partitions")      # its own partition: a correction
    assert sorted(lake.read(SPEC).rows()) == [("a", "d1", 5.0), ("m", "d2", 2.0), ("z", "d3", 3.0)]


def test_keys_longer_than_the_statistics_keep_are_found(lake):
    # deltalake truncates long string statistics (the max rounded up): the bounds must still hold the key
    long = "x" * 80
    lake.write(SPEC, frame([(long + "b", "d1", 1.0), (long + "y", "d1", 2.0)]), mode="partitions")
    with pytest.raises(SchemaError, match="already stored"):
        lake.write(SPEC, frame([(long + "y", "d2", 0.0)]), mode="partitions")
    lake.write(SPEC, frame([(long + "c", "d2", 0.0), (long + "z", "d2", 0.0)]), mode="partitions")
    assert lake.read(SPEC).height == 4


def test_integer_keys_and_keys_without_statistics_are_checked(lake):
    ints = TableSpec("silver", "ints", {"n": pl.Int64(), "day": pl.Utf8()}, primary_key=("n",), partition_by="day")
    lake.write(ints, pl.DataFrame({"n": [1, 5, 9], "day": ["d1"] * 3}), mode="partitions")
    with pytest.raises(SchemaError, match=r"\{'n': 5\}"):
        lake.write(ints, pl.DataFrame({"n": [4, 5], "day": ["d2", "d2"]}), mode="partitions")
    lake.write(ints, pl.DataFrame({"n": [4, 10], "day": ["d2", "d2"]}), mode="partitions")
    # deltalake keeps statistics for the first 32 columns only: a key after them has none
    wide = TableSpec("silver", "wide", {**{f"c{i}": pl.Utf8() for i in range(40)}, "id": pl.Utf8(), "day": pl.Utf8()},
                     primary_key=("id",), partition_by="day")
    row = {f"c{i}": ["v"] for i in range(40)}
    lake.write(wide, pl.DataFrame({**row, "id": ["k"], "day": ["d1"]}), mode="partitions")
    with pytest.raises(SchemaError, match=r"\{'id': 'k'\}"):
        lake.write(wide, pl.DataFrame({**row, "id": ["k"], "day": ["d2"]}), mode="partitions")
    with pytest.raises(SchemaError, match=r"\{'id': 'k'\}"):
        lake.write(wide, pl.DataFrame({**row, "id": ["k"], "day": ["d2"]}), mode="append")


def test_a_write_that_keeps_losing_the_commit_race_says_so_and_writes_nothing(lake, monkeypatch):
    from deltalake.exceptions import CommitFailedError

    lake = Lakehouse(lake.root, commit_retries=2)
    lake.write(SPEC, frame([("a", "d1", 1.0)]))
    calls = []

    def another_writer_always_first(self, *args, **kwargs):
        calls.append(1)
        raise CommitFailedError("Failed to commit transaction: 0")

    monkeypatch.setattr(Lakehouse, "_write_once", another_writer_always_first)
    with pytest.raises(LakehouseError, match=r"gave up after 3 attempts.*LAKEHOUSE_COMMIT_RETRIES"):
        lake.write(SPEC, frame([("b", "d2", 2.0)]), mode="append")
    assert len(calls) == 3
    monkeypatch.undo()
    assert lake.read(SPEC).get_column("id").to_list() == ["a"]
