"""A primary key is never stored twice, also when writer processes race; concurrent commits lose nothing.

Real writer processes (spawned) meet at a barrier and write at the same moment, on local disk and on an
S3-compatible server (moto, conditional writes)."""

from __future__ import annotations

import pytest

from lakehouse import Lakehouse
from tests.lakehouse.racers import Writers, frame, spec

TRIALS = 6
# (key, partition, mode) of each racing writer; every scenario stores "k" twice on the old write path
SCENARIOS = {
    "two partition rewrites": [("k", "d1", "partitions"), ("k", "d2", "partitions")],
    "an append racing a partition rewrite": [("k", "d1", "append"), ("k", "d2", "partitions")],
    "a merge racing an append": [("k", "d1", "merge"), ("k", "d2", "append")],
    "an append racing a full overwrite": [("k", "d1", "overwrite"), ("k", "d2", "append")],
}


@pytest.fixture(scope="module")
def two_writers():
    writers = Writers(2)
    yield writers
    writers.close()


def race(writers: Writers, root: str, options, scenario: str, seed: bool = True) -> None:
    lake = Lakehouse(root, options)
    if seed:
        lake.write(spec(), frame([("seed", "d0", 0.0)]))
    out = writers.round([(n, root, [(key, day, float(n))], mode)
                         for n, (key, day, mode) in enumerate(SCENARIOS[scenario])])
    errors = [detail for outcome, detail in out.values() if outcome == "error"]
    assert not errors, errors[0]
    ids = lake.read(spec()).get_column("id").to_list()
    assert ids.count("k") == 1, f"{scenario}: key 'k' stored {ids.count('k')} times ({out})"
    outcomes = sorted(outcome for outcome, _ in out.values())
    refused = [detail for outcome, detail in out.values() if outcome == "refused"]
    if scenario == "two partition rewrites" or scenario == "an append racing a partition rewrite":
        assert outcomes == ["ok", "refused"], out       # whoever commits second finds the key stored
        assert "is already stored" in refused[0]
    else:   # a merge upserts / an overwrite replaces: the other order is a legal serial outcome too
        assert outcomes in (["ok", "ok"], ["ok", "refused"]), out


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_racing_writers_never_store_a_key_twice(tmp_path, two_writers, scenario):
    for trial in range(TRIALS):
        race(two_writers, str(tmp_path / f"trial{trial}"), None, scenario)


def test_first_writes_of_a_new_table_racing_on_a_key_store_it_once(tmp_path, two_writers):
    for trial in range(TRIALS):
        race(two_writers, str(tmp_path / f"trial{trial}"), None, "two partition rewrites", seed=False)


@pytest.mark.cluster
@pytest.mark.parametrize("scenario", ["two partition rewrites", "an append racing a partition rewrite"])
def test_racing_writers_never_store_a_key_twice_on_s3(s3_server, two_writers_s3, scenario):
    import uuid

    for trial in range(3):
        bucket = f"race-{uuid.uuid4().hex[:12]}"
        s3_server["client"].create_bucket(Bucket=bucket)
        race(two_writers_s3, f"s3://{bucket}/lake", s3_server["options"], scenario)


@pytest.fixture(scope="module")
def two_writers_s3(s3_server):
    writers = Writers(2, s3_server["options"])
    yield writers
    writers.close()


def appends(writers: Writers, root: str, options, n_writers: int, per_writer: int, keyed: bool = True) -> None:
    """``n_writers`` writers start together and each append ``per_writer`` batches of their own keys, one
    after the other as fast as they can: nothing lost, no write fails (a commit that loses the race is
    retried, ``LAKEHOUSE_COMMIT_RETRIES``)."""
    lake = Lakehouse(root, options)
    lake.write(spec(keyed), frame([("seed", "d0", 0.0)]))
    out = writers.round([(w, root, [[(f"w{w}b{b}r{r}", f"d{w}", float(r)) for r in range(3)]
                                    for b in range(per_writer)], "appends", keyed) for w in range(n_writers)])
    failed = [detail for outcome, detail in out.values() if outcome != "ok"]
    assert not failed, f"{len(failed)} of {n_writers} writers failed; first: {failed[0]}"
    ids = lake.read(spec(keyed)).get_column("id").to_list()
    assert len(ids) == len(set(ids)) == 1 + n_writers * per_writer * 3
    assert lake.version(spec(keyed)) == n_writers * per_writer    # one commit per append


@pytest.fixture(scope="module")
def eight_writers():
    writers = Writers(8)
    yield writers
    writers.close()


def test_eight_writers_appending_at_once_lose_nothing(tmp_path, eight_writers):
    appends(eight_writers, str(tmp_path / "root"), None, 8, 5)


def test_four_writers_rewriting_their_partitions_at_once_lose_nothing(tmp_path, eight_writers):
    rewrites(eight_writers, str(tmp_path / "root"), None)


@pytest.mark.cluster
def test_four_writers_rewriting_their_partitions_at_once_on_s3_lose_nothing(s3_root, eight_writers_s3):
    root, options = s3_root
    rewrites(eight_writers_s3, root, options)


def rewrites(eight_writers: Writers, root: str, options) -> None:
    """4 writers rewrite one partition each, 4 others write a partition of their own, all at once, twice."""
    lake = Lakehouse(root, options)
    lake.write(spec(), frame([("seed", "d0", 0.0)]))
    for rerun in range(2):   # the second round rewrites the same partitions (idempotent reruns)
        out = eight_writers.round([(w, root, [(f"p{w % 4}r{r}", f"q{w % 4}", float(rerun)) for r in range(3)]
                                    if w < 4 else [(f"x{w}", f"e{w}", 0.0)], "partitions") for w in range(8)])
        assert all(outcome == "ok" for outcome, _ in out.values()), out
    rows = lake.read(spec())
    assert rows.height == 1 + 4 * 3 + 4 and rows.get_column("id").n_unique() == rows.height


@pytest.mark.cluster
@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "no key"])
def test_eight_writers_appending_at_once_on_s3_lose_nothing(s3_root, eight_writers_s3, keyed):
    root, options = s3_root
    appends(eight_writers_s3, root, options, 8, 5, keyed)


@pytest.fixture(scope="module")
def eight_writers_s3(s3_server):
    writers = Writers(8, s3_server["options"])
    yield writers
    writers.close()
