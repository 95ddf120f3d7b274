"""Writer processes for the race tests: each one waits at a barrier, then writes, and reports what happened.

Processes are started with ``spawn``: deltalake panics in a forked child once the parent has used it."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import traceback

import polars as pl

SCHEMA = {"id": pl.Utf8, "day": pl.Utf8, "value": pl.Float64}


def spec(keyed: bool = True):
    """silver.things, keyed on ``id`` and partitioned by ``day`` (``keyed=False``: the same without a key,
    like a bronze table)."""
    from lakehouse import TableSpec

    return TableSpec("silver", "things", {"id": pl.Utf8(), "day": pl.Utf8(), "value": pl.Float64()},
                     primary_key=("id",) if keyed else (), partition_by="day")


def frame(rows) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def writer(tasks, results, barrier, storage_options: dict[str, str] | None, commit_retries: int | None) -> None:
    """Take (tag, root, rows, mode[, keyed]) tasks until None: meet the other writers at the barrier, write, report
    ("ok", version) / ("refused", message) / ("error", traceback) under ``tag``."""
    from lakehouse import Lakehouse, SchemaError

    while True:
        task = tasks.get()
        if task is None:
            return
        tag, root, rows, mode, *keyed = task
        lake = Lakehouse(root, storage_options,
                         **({} if commit_retries is None else {"commit_retries": commit_retries}))
        barrier.wait(timeout=120)
        try:
            if mode == "appends":   # rows is a list of batches, appended one after the other
                versions = [lake.write(spec(*keyed), frame(batch), mode="append").version for batch in rows]
                results.put((tag, "ok", versions))
            else:
                result = lake.write(spec(*keyed), frame(rows), mode=mode)
                results.put((tag, "ok", result.version))
        except SchemaError as exc:
            results.put((tag, "refused", str(exc)))
        except Exception:   # noqa: BLE001 - reported to the test, which fails on it
            results.put((tag, "error", traceback.format_exc()))


class Writers:
    """``n`` spawned writer processes fed through a queue; a barrier makes each round's writes start together."""

    def __init__(self, n: int, storage_options: dict[str, str] | None = None, commit_retries: int | None = None):
        ctx = mp.get_context("spawn")
        self.n = n
        self.tasks, self.results = ctx.Queue(), ctx.Queue()
        self.barrier = ctx.Barrier(n)
        self.procs = [ctx.Process(target=writer, args=(self.tasks, self.results, self.barrier, storage_options,
                                                       commit_retries), daemon=True) for _ in range(n)]
        for p in self.procs:
            p.start()

    def round(self, tasks: list[tuple], timeout: float = 180) -> dict:
        """Run one write per writer at the same moment; returns tag -> (outcome, detail)."""
        assert len(tasks) == self.n
        for task in tasks:
            self.tasks.put(task)
        out = {}
        for _ in tasks:
            tag, outcome, detail = self.results.get(timeout=timeout)
            out[tag] = (outcome, detail)
        return out

    def close(self) -> None:
        for _ in self.procs:
            self.tasks.put(None)
        for p in self.procs:
            p.join(timeout=30)
            if p.is_alive():
                os.kill(p.pid, signal.SIGKILL)
