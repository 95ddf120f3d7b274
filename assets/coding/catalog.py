"""Catalogues: the codes a classification allows, with titles (and aliases) used for retrieval.

A catalogue with a duplicated code is refused with an error naming the code and the rows; the
``scian_ciiu`` package is a SCIAN->CIIU correspondence (one row per pair), so there a SCIAN code
repeats by design: its rows collapse into one entry whose CIIU descriptions become aliases.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import polars as pl

from assets.coding.config import ClassificationConfig, ConfigError


class CatalogError(ValueError):
    """A catalogue is unusable (duplicate or empty codes, missing columns); the message names rows."""


@dataclass(frozen=True)
class CatalogEntry:
    code: str
    title: str
    aliases: tuple[str, ...] = ()


class Catalog:
    """Codes of a classification. ``assignable`` codes are the ones a record may receive (for SCIAN the
    6-digit classes; for a flat classification every code)."""

    def __init__(self, entries: Iterable[CatalogEntry], config: ClassificationConfig | None = None):
        self.entries: dict[str, CatalogEntry] = {}
        for e in entries:
            self.entries[e.code] = e
        self.config = config

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, code: object) -> bool:
        return code in self.entries

    @property
    def codes(self) -> list[str]:
        return sorted(self.entries)

    def assignable(self) -> list[str]:
        if self.config is None:
            return self.codes
        return [c for c in self.codes if self.config.matches_pattern(c)]

    def title(self, code: str | None) -> str | None:
        if code is None:
            return None
        entry = self.entries.get(code)
        return entry.title if entry else None

    def documents(self, codes: Iterable[str] | None = None) -> list[tuple[str, str]]:
        """(code, text) pairs: each title and alias of the given (default: assignable) codes."""
        wanted = self.assignable() if codes is None else [c for c in codes if c in self.entries]
        out = []
        for code in wanted:
            e = self.entries[code]
            for text in (e.title, *e.aliases):
                if text:
                    out.append((code, text))
        return out

    def content_hash(self) -> str:
        h = hashlib.sha256()
        for code in self.codes:
            e = self.entries[code]
            h.update("\x1f".join((code, e.title, *e.aliases)).encode("utf-8"))
            h.update(b"\x1e")
        return h.hexdigest()[:16]

    def to_frame(self) -> pl.DataFrame:
        return pl.DataFrame({"code": self.codes, "title": [self.entries[c].title for c in self.codes]},
                            schema={"code": pl.Utf8, "title": pl.Utf8})


def _check_rows(rows: list[Mapping[str, object]], where: str, code_key: str = "code",
                title_key: str = "title") -> list[CatalogEntry]:
    """Entries from rows, refusing empty and duplicate codes (rows are numbered from 1)."""
    seen: dict[str, list[int]] = defaultdict(list)
    entries = []
    for i, row in enumerate(rows, start=1):
        code = row.get(code_key)
        code = "" if code is None else str(code).strip()
        if not code:
            raise CatalogError(f"{where}: row {i} has an empty code")
        seen[code].append(i)
        title = row.get(title_key)
        aliases = row.get("aliases") or ()
        entries.append(CatalogEntry(code, "" if title is None else str(title).strip(),
                                    tuple(str(a) for a in aliases)))
    dups = {c: r for c, r in seen.items() if len(r) > 1}
    if dups:
        listing = "; ".join(f"{c} (rows {', '.join(map(str, r))})" for c, r in sorted(dups.items())[:10])
        raise CatalogError(f"{where}: duplicate codes in the catalogue: {listing}")
    return entries


def scian_ciiu_entries() -> list[CatalogEntry]:
    """SCIAN 2018 classes (6 digits) from the ``scian_ciiu`` package, CIIU rev.4 descriptions as aliases."""
    from scian_ciiu.src.data import data

    titles: dict[str, str] = {}
    aliases: dict[str, list[str]] = defaultdict(list)
    for row in data:
        code = str(row.get("SCIAN", "")).strip()
        if len(code) != 6 or not code.isdigit():
            continue  # the package has a few malformed rows (free text in the code field)
        titles.setdefault(code, str(row.get("SCIAN_string", "")).strip())
        alias = str(row.get("CIIU_string", "") or "").strip()
        if alias and alias not in aliases[code]:
            aliases[code].append(alias)
    return [CatalogEntry(c, titles[c], tuple(aliases[c])) for c in sorted(titles)]


def load_catalog(config: ClassificationConfig, table: pl.DataFrame | None = None) -> Catalog:
    """The catalogue of ``config`` (``table``: the frame of a ``source: table`` catalogue, read by the caller)."""
    src = config.catalog
    where = f"{config.path or config.name}: catalog"
    if src.source == "inline":
        entries = _check_rows(list(src.codes), f"{where}.codes")
    elif src.source == "csv":
        path = Path(src.path or "")
        if not path.is_absolute() and config.path:
            path = Path(config.path).parent / path
        if not path.exists():
            raise CatalogError(f"{where}: file {path} does not exist")
        df = pl.read_csv(path, infer_schema_length=0)
        for col in (src.code_column, src.title_column):
            if col not in df.columns:
                raise CatalogError(f"{path}: missing column {col!r} (has {df.columns})")
        entries = _check_rows(df.to_dicts(), str(path), src.code_column, src.title_column)
    elif src.source == "package":
        entries = scian_ciiu_entries()
    elif src.source == "table":
        if table is None:
            raise ConfigError(f"{where}: catalogue table {src.table} must be read and passed by the caller")
        for col in (src.code_column, src.title_column):
            if col not in table.columns:
                raise CatalogError(f"{src.table}: missing column {col!r}")
        entries = _check_rows(table.to_dicts(), str(src.table), src.code_column, src.title_column)
    else:  # parse_config guards this
        raise ConfigError(f"{where}: unknown source {src.source!r}")
    if src.extra:
        extra = _check_rows(list(src.extra), f"{where}.extra")
        clash = sorted({e.code for e in extra} & {e.code for e in entries})
        if clash:
            raise CatalogError(f"{where}: extra codes already in the catalogue (duplicates): {clash[:10]}")
        entries = [*entries, *extra]
    if not entries:
        raise CatalogError(f"{where}: the catalogue is empty")
    bad = [e.code for e in entries if config.code_pattern and not config.matches_pattern(e.code)
           and not _is_prefix_level(e.code, config)]
    if bad:
        raise CatalogError(f"{where}: codes not matching code_pattern {config.code_pattern!r}: {bad[:10]}")
    return Catalog(entries, config)


def _is_prefix_level(code: str, config: ClassificationConfig) -> bool:
    return config.hierarchical and len(code) in config.levels
