"""The one module that reads and writes Delta tables.

Guarantees, whatever the caller:
- the schema is enforced before anything is written (missing/extra column, wrong type or a cast that
  would change values, null or duplicate key -> :class:`SchemaError` naming the column and row; nothing
  written); a key is also refused when the table already holds it outside what the write replaces (an
  append, or another partition), so a primary key is never stored twice, also when writers race: the check
  reads the snapshot (version v) the commit is based on, and the commit is refused by Delta if any other
  commit landed after v (``max_commit_retries=0`` against the pinned snapshot); the write then re-reads,
  re-checks and retries, up to ``commit_retries`` times (see :meth:`Lakehouse.write`);
- a partition rewrite replaces exactly the partitions present in the data (idempotent reruns);
- merge upserts on the primary key;
- the data of every write is one Delta transaction, so a table is never half-written (two steps commit
  no data: a partition rewrite or merge into a table that does not exist yet first creates it empty, so
  that concurrent first writes conflict instead of overwriting each other; a partition rewrite that adds
  columns first widens the table);
- schema evolution is additive only (new nullable columns); anything else is refused;
- old versions stay readable (time travel).

``root`` is a local path or an object-store URI (``s3://bucket/prefix``); object-store
credentials go in ``storage_options`` exactly as deltalake takes them.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, QueryBuilder, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from lakehouse.artifacts import Artifacts
from lakehouse.errors import LakehouseError, SchemaError
from lakehouse.spec import TableSpec

WriteMode = Literal["overwrite", "append", "partitions", "merge"]

# how often a write re-reads and retries after another writer's commit landed first (LAKEHOUSE_COMMIT_RETRIES)
DEFAULT_COMMIT_RETRIES = 25
# the longest pause between two attempts, in seconds (exponential backoff with full jitter)
_MAX_BACKOFF_S = 2.0


@dataclass(frozen=True)
class WriteResult:
    table: str
    uri: str
    mode: str
    rows_written: int
    version: int
    partitions: tuple[str, ...] = ()


def _is_remote(root: str) -> bool:
    return "://" in root and not root.startswith("file://")


def _sql_literal(value) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Lakehouse:
    """Access to the Delta tables under one data root."""

    def __init__(self, root: str | os.PathLike, storage_options: dict[str, str] | None = None,
                 commit_retries: int = DEFAULT_COMMIT_RETRIES):
        if commit_retries < 0:
            raise LakehouseError(f"commit_retries must be >= 0, got {commit_retries}")
        self.commit_retries = int(commit_retries)
        root = str(root)
        if root.startswith("file://"):
            root = root[len("file://") :]
        self.remote = _is_remote(root)
        self.root = root.rstrip("/") if self.remote else str(Path(root).expanduser().resolve())
        self.storage_options = dict(storage_options or {})

    # where this node keeps its copy of the artifacts of an object-store root (set from the settings)
    artifact_cache: str | os.PathLike | None = None

    @property
    def artifacts(self):
        """The files under the root that are not tables (models, exports, pictures, site), local and remote
        roots alike (:class:`lakehouse.artifacts.Artifacts`)."""
        current = self.__dict__.get("_artifacts")
        if current is None or current.cache_dir != Artifacts(self.root, None, self.artifact_cache).cache_dir:
            current = self.__dict__["_artifacts"] = Artifacts(self.root, self.storage_options, self.artifact_cache)
        return current

    # ------------------------------------------------------------------ locations
    def uri(self, spec: TableSpec) -> str:
        return f"{self.root}/{spec.layer}/{spec.name}"

    def path(self, *parts: str) -> str:
        """A location under the data root (landing files, artifacts, exports)."""
        return "/".join([self.root, *parts])

    def local_dir(self, *parts: str) -> Path:
        """A local directory under the data root, created if needed (artifacts, pictures, sites)."""
        if self.remote:
            raise LakehouseError(f"{self.root} is an object store: write artifacts through "
                                 "Lakehouse.artifacts.directory(...) (works with local and remote roots)")
        p = Path(self.root, *parts)
        p.mkdir(parents=True, exist_ok=True)
        return p

    # ------------------------------------------------------------------ inspection
    def _table(self, spec: TableSpec, version: int | None = None) -> DeltaTable | None:
        try:
            return DeltaTable(self.uri(spec), version=version, storage_options=self.storage_options or None)
        except TableNotFoundError:
            return None

    def exists(self, spec: TableSpec) -> bool:
        return self._table(spec) is not None

    def version(self, spec: TableSpec) -> int | None:
        table = self._table(spec)
        return None if table is None else table.version()

    def history(self, spec: TableSpec) -> list[dict]:
        table = self._table(spec)
        return [] if table is None else table.history()

    def read(self, spec: TableSpec, version: int | None = None, columns: list[str] | None = None) -> pl.DataFrame:
        """Read a table (or an old ``version`` of it). A table never written reads as empty."""
        table = self._table(spec, version=version)
        if table is None:
            if version is not None:
                raise LakehouseError(f"table {spec.key} has no version {version}: it does not exist")
            empty = spec.empty()
            return empty.select(columns) if columns else empty
        # columns the definition added after the table was written (additive evolution) read as typed nulls
        have = pa.schema(table.schema().to_arrow()).names
        out = columns if columns is not None else [*spec.full_schema, *(c for c in have if c not in spec.full_schema)]
        unknown = [c for c in out if c not in have and c not in spec.full_schema]
        if unknown:
            raise LakehouseError(f"table {spec.key} has no column(s) {unknown}")
        # (asked only for new columns: one stored column still gives the row count)
        df = pl.from_arrow(self._arrow(table, [c for c in out if c in have] or have[:1]))
        assert isinstance(df, pl.DataFrame)
        added = [c for c in out if c not in have]
        if added:
            df = df.with_columns(pl.lit(None, dtype=spec.full_schema[c]).alias(c) for c in added)
        return df.select(out)

    def row_count(self, spec: TableSpec) -> int:
        table = self._table(spec)
        if table is None:
            return 0
        if self.remote:
            return int(QueryBuilder().register("t", table).execute("SELECT count(*) AS n FROM t")
                       .read_all().column(0)[0].as_py())
        return table.to_pyarrow_dataset().count_rows()

    def _arrow(self, table: DeltaTable, columns: list[str]) -> pa.Table:
        """``columns`` of ``table`` as Arrow. On an object store through deltalake's QueryBuilder: reading an S3
        table with ``to_pyarrow_table()`` aborted the process at exit (rc 134) in about half the runs."""
        if not self.remote:
            return table.to_pyarrow_table(columns=columns)
        cols = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
        return pa.table(QueryBuilder().register("t", table).execute(f"SELECT {cols} FROM t").read_all())

    # ------------------------------------------------------------------ validation
    def conform(self, spec: TableSpec, df: pl.DataFrame) -> pl.DataFrame:
        """Return ``df`` cast and ordered to ``spec``'s schema, or raise :class:`SchemaError`."""
        schema = spec.full_schema
        missing = [c for c in schema if c not in df.columns]
        if missing:
            raise SchemaError(
                f"table {spec.key}: column {missing[0]!r} is missing from the data "
                f"(expected {schema[missing[0]]}); missing: {missing}"
            )
        extra = [c for c in df.columns if c not in schema]
        if extra:
            raise SchemaError(
                f"table {spec.key}: column {extra[0]!r} is not in the declared schema; "
                f"declare it in lakehouse/tables first (unexpected: {extra})"
            )
        out = []
        for col, dtype in schema.items():
            series = df.get_column(col)
            if series.dtype == dtype:
                out.append(series)
                continue
            lossy = _lossy_cast(series, dtype)
            if lossy is not None:
                raise SchemaError(f"table {spec.key}: column {col!r} must be {dtype}, got {series.dtype}; {lossy}")
            try:
                out.append(series.cast(dtype, strict=True))
            except (pl.exceptions.PolarsError, ValueError, TypeError):
                loose = series.cast(dtype, strict=False)
                bad = (series.is_not_null() & loose.is_null()).arg_true()
                row = int(bad[0]) if len(bad) else 0
                raise SchemaError(
                    f"table {spec.key}: column {col!r} must be {dtype}, got {series.dtype}; "
                    f"row {row} has value {series[row]!r} that does not convert"
                ) from None
        conformed = pl.DataFrame(out)
        for col in spec.non_nullable:
            series = conformed.get_column(col)
            if series.null_count():   # (a count the column keeps: no scan when there is no null)
                nulls = series.is_null().arg_true()
                raise SchemaError(f"table {spec.key}: key column {col!r} is null in row {int(nulls[0])}")
        if spec.primary_key and conformed.height > 1 and not _surely_unique(conformed.select(spec.primary_key)):
            dup = conformed.select(spec.primary_key).is_duplicated().arg_true()
            if len(dup):
                row = int(dup[0])
                key = {c: conformed.get_column(c)[row] for c in spec.primary_key}
                raise SchemaError(f"table {spec.key}: primary key {key} appears more than once (row {row})")
        return conformed

    def _to_arrow(self, spec: TableSpec, df: pl.DataFrame) -> pa.Table:
        arrow = df.to_arrow(compat_level=pl.CompatLevel.oldest())
        return arrow.cast(spec.arrow_schema())

    def _evolution(self, spec: TableSpec, table: DeltaTable | None) -> bool:
        """True when the table lacks columns the spec adds (additive evolution); refuse anything else."""
        if table is None:
            return False
        current = pa.schema(table.schema().to_arrow())
        wanted = spec.arrow_schema()
        current_names = set(current.names)
        wanted_names = set(wanted.names)
        dropped = sorted(current_names - wanted_names)
        if dropped:
            raise SchemaError(
                f"table {spec.key}: the spec drops column(s) {dropped} that the table has; "
                "only additive schema evolution is allowed"
            )
        for name in current_names:
            old_t, new_t = current.field(name).type, wanted.field(name).type
            if not _same_type(old_t, new_t):
                raise SchemaError(
                    f"table {spec.key}: column {name!r} changes type {old_t} -> {new_t}; "
                    "only additive schema evolution is allowed"
                )
        return bool(wanted_names - current_names)

    # ------------------------------------------------------------------ writing
    def write(
        self,
        spec: TableSpec,
        df: pl.DataFrame,
        mode: WriteMode = "overwrite",
        partitions: list[str] | None = None,
    ) -> WriteResult:
        """Write ``df`` to ``spec``'s table in one Delta transaction.

        ``overwrite`` replaces the table; ``append`` adds rows; ``partitions`` replaces exactly the
        partitions present in ``df`` (or the explicit ``partitions`` list, which may name
        partitions that become empty); ``merge`` upserts on the primary key.

        Concurrency: each attempt pins the latest snapshot (version v), checks the stored keys of v and
        commits against v. On a table with a primary key Delta may not resolve a concurrent commit by
        itself (``max_commit_retries=0``): deltalake's conflict checker only knows the rows a write
        reads through its own predicate, not the other partitions the key check read, so it would let
        two writers store one key in two partitions (or an append survive a full overwrite). Any commit
        that lands after v therefore fails this attempt, and the next attempt re-reads, re-checks and
        writes again, after a jittered backoff, up to ``commit_retries`` times. Tables without a primary
        key let deltalake retry the commit itself (``max_commit_retries=commit_retries``). The data files
        of a lost attempt stay behind unreferenced; the maintenance (:mod:`lakehouse.maintenance`) vacuums them.
        """
        data = self.conform(spec, df)
        arrow = self._to_arrow(spec, data)
        uri = self.uri(spec)
        if mode not in ("overwrite", "append", "partitions", "merge"):
            raise LakehouseError(f"unknown write mode {mode!r}")
        values: list[str] = []
        if mode == "partitions":
            if not spec.partition_by:
                raise LakehouseError(f"table {spec.key} declares no partition column; cannot rewrite partitions")
            listed = partitions if partitions is not None else data.get_column(spec.partition_by).unique().to_list()
            values = sorted({str(v) for v in listed})
            outside = set(data.get_column(spec.partition_by).cast(pl.Utf8).unique().to_list()) - set(values)
            if outside:
                raise SchemaError(f"table {spec.key}: rows for partitions {sorted(outside)} not listed in {values}")
            if not values:
                return WriteResult(spec.key, uri, mode, 0, self.version(spec) or 0)
        if mode == "merge" and not spec.primary_key:
            raise LakehouseError(f"table {spec.key} declares no primary key; cannot merge")
        if not self.remote:
            Path(uri).parent.mkdir(parents=True, exist_ok=True)

        guarded = bool(spec.primary_key)
        commit = CommitProperties(max_commit_retries=0 if guarded else self.commit_retries)
        attempts = self.commit_retries + 1
        for attempt in range(attempts):
            try:
                version = self._write_once(spec, data, arrow, mode, values, commit)
                break
            except CommitFailedError as exc:
                if attempt + 1 >= attempts:
                    raise LakehouseError(
                        f"table {spec.key} ({uri}): {mode} write gave up after {attempts} attempts, other writers "
                        f"committed first every time ({exc}); nothing of this write was committed. Raise "
                        "LAKEHOUSE_COMMIT_RETRIES or write less often at once") from exc
                time.sleep(random.uniform(0, min(_MAX_BACKOFF_S, 0.02 * 2 ** attempt)))
        return WriteResult(spec.key, uri, mode, data.height, version, tuple(values))

    def _write_once(self, spec: TableSpec, data: pl.DataFrame, arrow: pa.Table, mode: str,
                    values: list[str], commit: CommitProperties) -> int:
        """One attempt of :meth:`write` against the snapshot it pins; returns the committed version.
        Raises ``CommitFailedError`` when another commit landed first (the caller retries)."""
        uri = self.uri(spec)
        opts = self.storage_options or None
        table = self._table(spec)
        evolve = self._evolution(spec, table)
        target: DeltaTable | str = uri if table is None else table

        if mode == "overwrite":
            write_deltalake(target, arrow, mode="overwrite", schema_mode="overwrite" if evolve else None,
                            storage_options=opts if table is None else None, commit_properties=commit)
        elif mode == "append":
            self._check_keys_elsewhere(spec, table, data, replaced=None)
            write_deltalake(target, arrow, mode="append", schema_mode="merge" if evolve else None,
                            storage_options=opts if table is None else None, commit_properties=commit)
        elif mode == "partitions":
            if table is None:
                table = self._create(spec)
            elif evolve:
                # Add the new columns first (empty append with merged schema, a commit of its own that changes
                # no rows), then check and rewrite against the widened snapshot.
                write_deltalake(table, arrow.slice(0, 0), mode="append", schema_mode="merge",
                                commit_properties=CommitProperties(max_commit_retries=self.commit_retries))
                table = self._table(spec)
                assert table is not None
            self._check_keys_elsewhere(spec, table, data, replaced=values)
            col = spec.partition_by
            predicate = f"CAST({col} AS STRING) IN ({', '.join(_sql_literal(v) for v in values)})"
            write_deltalake(table, arrow, mode="overwrite", predicate=predicate, commit_properties=commit)
        else:  # merge
            if table is None:
                table = self._create(spec)
                evolve = False
            predicate = " AND ".join(f"t.{c} = s.{c}" for c in spec.primary_key)
            (
                table.merge(source=arrow, predicate=predicate, source_alias="s", target_alias="t",
                            merge_schema=evolve, commit_properties=commit)
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )
        if isinstance(target, str) and table is None:
            return self.version(spec) or 0
        assert table is not None
        return table.version()

    def _check_keys_elsewhere(self, spec: TableSpec, table: DeltaTable | None, data: pl.DataFrame,
                              replaced: list[str] | None) -> None:
        """Refuse rows whose primary key ``table`` (the snapshot the write commits against) already holds
        outside what this write replaces (an append, ``replaced=None``, adds to everything; a partition
        rewrite replaces only the partitions ``replaced``), so a key is never stored twice, e.g. a record
        delivered again in a later batch. Nothing to check without a table or a primary key.

        The cost follows the data written, not the table: the per-file key statistics of the Delta log
        (min/max of each key column) name the files that could hold an incoming key, and only those
        files' key columns are read (none when each delivery's ids fall in their own range, e.g. ids
        numbered per batch or prefixed by it). Keys spread at random over every file still read every
        other file's keys: the statistics cannot rule any file out."""
        if table is None or not spec.primary_key or data.is_empty():
            return
        key = list(spec.primary_key)
        part = spec.partition_by if replaced is not None else None
        files = self._candidate_files(spec, table, data, part, replaced or [])
        if files == 0:
            return
        cols = [*key, *([part] if part and part not in key else [])]
        where = []
        if part:
            where.append(f"CAST({_ident(part)} AS STRING) NOT IN ({', '.join(_sql_literal(v) for v in replaced)})")
        for c in key[:1]:   # a range on the first key column lets the scan skip files and row groups
            lo, hi = data.get_column(c).min(), data.get_column(c).max()
            if data.schema[c] in (pl.Utf8, pl.String):
                where.append(f"{_ident(c)} BETWEEN {_sql_literal(lo)} AND {_sql_literal(hi)}")
            elif data.schema[c].is_integer():
                where.append(f"{_ident(c)} BETWEEN {int(lo)} AND {int(hi)}")
        sql = f"SELECT {', '.join(_ident(c) for c in cols)} FROM t" + (f" WHERE {' AND '.join(where)}" if where else "")
        stored = pl.from_arrow(pa.table(QueryBuilder().register("t", table).execute(sql).read_all()))
        assert isinstance(stored, pl.DataFrame)
        if stored.is_empty():
            return
        incoming = data.select(key).with_row_index("_row")
        clash = incoming.join(stored.cast({c: data.schema[c] for c in key}), on=key, how="inner")
        if clash.height:
            first = clash.sort("_row").row(0, named=True)
            where_txt = f" (partition {spec.partition_by}={first[part]!r})" if part else ""
            raise SchemaError(
                f"table {spec.key}: primary key {({c: first[c] for c in key})} in row {first['_row']} is already "
                f"stored{where_txt}; {clash.height} incoming row(s) repeat stored keys. Nothing was written: "
                "correct it in the partition that holds it, or remove it from this data")

    def _candidate_files(self, spec: TableSpec, table: DeltaTable, data: pl.DataFrame, part: str | None,
                         replaced: list[str]) -> int:
        """How many data files of the snapshot could hold one of ``data``'s keys outside the partitions
        ``replaced``, judged by the log's per-file statistics alone (no data file is opened). A file
        without statistics for a column it is judged by counts as a candidate."""
        actions = pl.from_arrow(pa.table(table.get_add_actions(flatten=True)))
        assert isinstance(actions, pl.DataFrame)
        if actions.is_empty():
            return 0
        n = actions.height
        keep = pl.Series([True] * n)
        if part:
            # files wholly inside the replaced partitions are replaced too: their keys do not count
            if f"partition.{part}" in actions.columns:
                inside = actions.get_column(f"partition.{part}").cast(pl.Utf8).is_in(replaced)
            elif {f"min.{part}", f"max.{part}", f"null_count.{part}"} <= set(actions.columns):
                lo = actions.get_column(f"min.{part}").cast(pl.Utf8)
                hi = actions.get_column(f"max.{part}").cast(pl.Utf8)
                inside = (lo == hi) & lo.is_in(replaced) & (actions.get_column(f"null_count.{part}") == 0)
            else:
                inside = pl.Series([False] * n)
            keep = keep & ~inside.fill_null(False)
        for c in spec.primary_key:
            if f"min.{c}" not in actions.columns or f"max.{c}" not in actions.columns:
                continue   # no statistics for this column: it rules nothing out
            column = data.get_column(c)
            try:
                mins = actions.get_column(f"min.{c}").cast(column.dtype)
                maxs = actions.get_column(f"max.{c}").cast(column.dtype)
            except pl.exceptions.PolarsError:
                continue
            unknown = mins.is_null() | maxs.is_null()
            # first the range of all incoming keys (no sort): a file outside it holds none of them
            lo, hi = column.min(), column.max()
            keep = keep & (unknown | ((maxs.fill_null(lo) >= lo) & (mins.fill_null(hi) <= hi)))
            if not keep.any():
                return 0
            # then, for the files left, whether an incoming key falls inside the file's own range
            incoming = column.sort()
            first = incoming.search_sorted(mins.fill_null(lo), side="left")
            after = incoming.search_sorted(maxs.fill_null(hi), side="right")
            keep = keep & (unknown | (after > first))
        return int(keep.sum())

    def _create(self, spec: TableSpec) -> DeltaTable:
        """Create ``spec``'s table empty (version 0), or find the one a concurrent writer just created.

        Partition rewrites and merges into a new table go through this, then write with their predicate
        or merge like on any table: two runs writing their first partitions at the same time then either
        both land or one fails with a commit conflict, instead of the second run's plain overwrite
        silently deleting the first run's rows."""
        opts = self.storage_options or None
        try:
            return DeltaTable.create(self.uri(spec), schema=spec.arrow_schema(), mode="ignore", storage_options=opts)
        except (CommitFailedError, DeltaError):
            table = self._table(spec)   # lost the race to create version 0: the winner's table is the table
            if table is None:
                raise
            return table

    def delete(self, spec: TableSpec, predicate: str) -> int:
        """Delete rows matching a SQL ``predicate`` in one transaction; returns rows deleted."""
        table = self._table(spec)
        if table is None:
            return 0
        return int(table.delete(predicate).get("num_deleted_rows", 0))


def _surely_unique(keys: pl.DataFrame) -> bool:
    """True when no two rows of ``keys`` are equal, proven cheaply; False means "look closer" (the caller
    finds the duplicate rows exactly). A sorted single key has its equal values side by side; otherwise
    distinct 64-bit row hashes prove distinct rows (equal rows always hash alike), 2-3x faster than
    counting distinct strings."""
    n = keys.height
    if keys.width == 1:
        column = keys.to_series()
        if column.is_sorted():
            return not (column.slice(1) == column.slice(0, n - 1)).any()
        return column.hash().n_unique() == n
    return keys.hash_rows().n_unique() == n


def _lossy_cast(series: pl.Series, dtype: pl.DataType) -> str | None:
    """Why casting ``series`` to ``dtype`` would silently change values (None when it would not).

    A strict polars cast still truncates 12.9 to 12 and turns the number 7089 into the text "7089" (a
    CVE_GEO that lost its leading zero): both are refused, naming the first row."""
    if series.dtype.is_numeric() and dtype in (pl.Utf8, pl.String):
        row = int(series.is_not_null().arg_true()[0]) if series.is_not_null().any() else None
        if row is None:
            return None   # all nulls: nothing to lose
        return (f"row {row} has the number {series[row]!r}: text columns take text (a code read as a number "
                "may have lost its leading zeros; read the file with that column as text)")
    if series.dtype.is_float() and dtype.is_integer():
        frac = (series.is_not_null() & (series != series.floor())).arg_true()
        if len(frac):
            row = int(frac[0])
            return f"row {row} has value {series[row]!r} with a fractional part (it would be truncated)"
    return None


def _same_type(a: pa.DataType, b: pa.DataType) -> bool:
    def norm(t: pa.DataType) -> pa.DataType:
        if t in (pa.large_string(), pa.string_view()):
            return pa.string()
        if t == pa.large_binary():
            return pa.binary()
        if pa.types.is_large_list(t) or pa.types.is_list(t):
            return pa.list_(norm(t.value_type))
        return t

    return norm(a) == norm(b)
