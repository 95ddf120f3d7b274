"""The landing zone: raw files as delivered, one folder per source.

Layout::

    landing/<source>/<file>                  sources read whole (catalogues, shelters, statistics)
    landing/<source>/<batch_id>/<files>      batch sources (narratives, census text, tiles)
    landing/_quarantine/<source>/<file>      files that could not be read, with <file>.reason.json

A file is quarantined by moving it, so a rerun no longer trips on it and nothing already in the
lakehouse is touched. A file of a source pointed elsewhere (``FMLAKE_SOURCE_*``: shared or read-only
data) is copied instead, never moved or deleted; while it stays as it was (same size and modification
time) the landing lists it no more; once it changes it is read again.

Hostile landings. A file name need not be text: a name that is not valid UTF-8 (or holds control
characters, or is too long to prefix) is quarantined under a safe name, the original bytes kept escaped
(``\\xff``) in its reason record. A reason file is written whole or not at all (written aside, then
renamed); one that is broken anyway (0 bytes, not JSON) is reported by :meth:`Landing.broken_reason_files`
and skipped, never fatal. Landing never reads outside its root: a symbolic link (to a file or a folder)
is refused without being followed (:meth:`Landing.refuse`: the link itself is moved to the quarantine,
its target is neither read, nor copied, nor shown), and so is a file whose real path leaves its source
folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

QUARANTINE = "_quarantine"


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on what a landing file may make a reader spend (settings ``FMLAKE_MAX_*``)."""

    max_file_bytes: int = 512 * 1024 * 1024
    max_field_chars: int = 1_000_000
    max_json_depth: int = 64
    max_records: int = 5_000_000
    max_raster_pixels: int = 500_000_000   # a tile's declared width x height (imagery)


@dataclass(frozen=True)
class QuarantinedFile:
    source: str
    original: str       # the path as the file system gave it (may hold undecodable bytes as surrogates)
    moved_to: str
    reason: str

    @property
    def display(self) -> str:
        """The original path as printable text (bytes that are not UTF-8 escaped as ``\\xNN``)."""
        return printable_path(self.original)


def printable_path(path: str | Path) -> str:
    """A path as valid text: bytes that are not UTF-8 become ``\\xNN``, control characters ``\\uNNNN``."""
    text = os.fsencode(str(path)).decode("utf-8", "backslashreplace")
    return "".join(c if unicodedata.category(c) != "Cc" else f"\\u{ord(c):04x}" for c in text)


def safe_name(name: str, limit: int = 120) -> str:
    """A file name that any file system and any text field takes: printable UTF-8, no control characters,
    at most ``limit`` bytes (a hash of the original keeps shortened or altered names apart)."""
    raw = os.fsencode(name)
    text = raw.decode("utf-8", "replace")
    clean = "".join("_" if (c == "\ufffd" or unicodedata.category(c) in ("Cc", "Cf", "Cs") or c in "\\/")
                    else c for c in text).lstrip(".") or "_"
    if clean == name and len(raw) <= limit:
        return name
    digest = hashlib.sha1(raw).hexdigest()[:10]
    stem, dot, suffix = clean.rpartition(".")
    if not dot or len(suffix.encode()) > 16:
        stem, suffix = clean, ""
    stem = stem.encode("utf-8")[: limit - 12 - len(suffix.encode())].decode("utf-8", "ignore")
    return f"{stem}~{digest}" + (f".{suffix}" if suffix else "")


def is_valid_name(path: str | Path) -> bool:
    """Whether every component of ``path`` is valid UTF-8 without control characters."""
    try:
        os.fsencode(str(path)).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(unicodedata.category(c) == "Cc" for c in str(path))


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class Landing:
    """Local landing root. ``sources`` maps a source name to an override folder or file (real data)."""

    def __init__(self, root: str | Path, overrides: dict[str, str] | None = None,
                 limits: ReadLimits | None = None):
        self.root = Path(root).expanduser().resolve()
        self.overrides = {k: Path(v).expanduser().resolve() for k, v in (overrides or {}).items()}
        self.limits = limits or ReadLimits()
        self._kept: set[tuple[str, int, int]] | None = None   # quarantined in place (read lazily)

    def source_dir(self, source: str) -> Path:
        override = self.overrides.get(source)
        if override is not None:
            return override
        return self.root / source

    def _keep(self, p: Path) -> bool:
        # a symbolic link is listed (not followed) so that the reader refuses and records it
        return ((p.is_symlink() or p.is_file()) and QUARANTINE not in p.parts
                and not p.name.endswith(".reason.json") and not p.name.startswith(".")
                and not self._quarantined_in_place(p))

    def refusal(self, source: str, path: Path) -> str | None:
        """Why ``path`` must not be read (a symbolic link, a real path outside its source folder), or None."""
        if path.is_symlink():
            return "symbolic link: refused, not followed (landing reads only files inside its root)"
        if not is_valid_name(path.name):
            return (f"file name is not valid UTF-8 text ({printable_path(path.name)}): refused unread; "
                    "rename it and deliver it again")
        base = self.source_dir(source)
        base = base if base.is_dir() else base.parent
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return "cannot be resolved (a loop of links?): refused"
        if source not in self.overrides and not real.is_relative_to(self.root):
            return "its real path leaves the landing root (a linked folder?): refused, not read"
        if not real.is_relative_to(base.resolve()):
            return "its real path leaves the source folder (a linked folder?): refused, not read"
        if not real.is_file():
            return "not a regular file: refused"
        return None

    def _inside(self, p: Path) -> bool:
        return p.resolve().is_relative_to(self.root)

    def _quarantined_in_place(self, p: Path) -> bool:
        """A file outside the landing root that was quarantined as it is now (copied, left in place)."""
        if self._inside(p):
            return False
        if self._kept is None:
            self._kept = {(r["original_path"], r["size"], r["mtime_ns"])
                          for r in self.quarantined() if r.get("kept_in_place")}
        if not self._kept:
            return False
        try:
            st = p.stat()
        except OSError:
            return False
        return (printable_path(p.resolve()), st.st_size, st.st_mtime_ns) in self._kept

    def loose_batch(self, source: str) -> str:
        """Name of the batch formed by files lying directly in the source folder (real-data folders)."""
        base = self.source_dir(source)
        return base.stem if base.is_file() else base.name

    def files(self, source: str, patterns: tuple[str, ...] = ("*",), batch: str | None = None) -> list[Path]:
        """Files of a source (or of one batch of it), sorted; quarantine and reason files excluded, and so
        are paths landing refuses to read (symbolic links, real paths leaving the source: see
        :meth:`refused_files`).

        A batch is a sub-folder; files lying directly in the source folder form one more batch named
        after the folder (so a folder of real files, or a single file, ingests as a batch).
        """
        return [p for p in self._candidates(source, patterns, batch) if self.refusal(source, p) is None]

    def refused_files(self, source: str, patterns: tuple[str, ...] = ("*",),
                      batch: str | None = None) -> list[tuple[Path, str]]:
        """(path, why) of the paths :meth:`files` leaves out because reading them could leave the root."""
        out = []
        for p in self._candidates(source, patterns, batch):
            why = self.refusal(source, p)
            if why is not None:
                out.append((p, why))
        return out

    def _candidates(self, source: str, patterns: tuple[str, ...], batch: str | None) -> list[Path]:
        base = self.source_dir(source)
        if base.is_file():
            return [base] if batch in (None, base.stem) else []
        if not base.exists():
            return []
        found: set[Path] = set()
        if batch is None:
            for pattern in patterns:
                found.update(p for p in base.rglob(pattern) if self._keep(p))
        elif (base / batch).is_symlink():
            return []   # a linked batch folder is never followed
        elif (base / batch).is_dir():
            for pattern in patterns:
                found.update(p for p in (base / batch).rglob(pattern) if self._keep(p))
        elif batch == base.name:
            for pattern in patterns:
                found.update(p for p in base.glob(pattern) if self._keep(p))
        return sorted(found)

    def batches(self, source: str) -> list[str]:
        """Batch names of a batch source (the dynamic partitions the sensor registers)."""
        base = self.source_dir(source)
        if base.is_file():
            return [base.stem]
        if not base.is_dir():
            return []
        names = [p.name for p in base.iterdir() if p.is_dir() and not p.is_symlink() and p.name != QUARANTINE
                 and not p.name.startswith(".")]
        if any(self._keep(p) for p in base.iterdir()):
            names.append(base.name)
        return sorted(names)

    def quarantine(self, source: str, path: str | Path, reason: str) -> QuarantinedFile:
        """Move ``path`` to ``landing/_quarantine/<source>/`` with a ``.reason.json`` next to it.

        A file outside the landing root (a source pointed at shared data) is copied and left in place.
        A symbolic link is moved itself (never followed); outside the root it is only recorded. The
        quarantined copy gets a safe name; the record keeps the original path, bytes escaped."""
        path = Path(path)
        qdir = self.root / QUARANTINE / source
        qdir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        target = qdir / f"{stamp}__{safe_name(path.name)}"
        link = path.is_symlink()
        record = {"source": source,
                  "original_path": printable_path(path.absolute() if link else path.resolve()),
                  "quarantined_at": datetime.now(timezone.utc).isoformat(), "reason": reason}
        if not is_valid_name(path.name):
            record["original_name_escaped"] = printable_path(path.name)
        if link:
            record["symbolic_link"] = True
        inside = (path.parent.resolve() if link else path.resolve()).is_relative_to(self.root)
        if inside:
            if link:
                os.rename(path, target)
            else:
                shutil.move(str(path), target)
        else:
            st = path.lstat() if link else path.stat()
            if not link:
                shutil.copy2(path, target)
            else:
                target = path   # recorded only: a link outside the root is neither followed nor moved
            record.update(kept_in_place=True, size=st.st_size, mtime_ns=st.st_mtime_ns)
        reason_file = (qdir / f"{stamp}__{safe_name(path.name)}.reason.json")
        _write_atomically(reason_file, json.dumps(record, ensure_ascii=False, indent=2))
        self._kept = None
        return QuarantinedFile(source, str(path), str(target), reason)

    def refuse(self, source: str, path: str | Path, reason: str) -> QuarantinedFile:
        """Quarantine ``path`` without reading it (a link, a path leaving the source): see :meth:`quarantine`."""
        return self.quarantine(source, path, reason)

    def _reason_files(self, source: str | None) -> list[Path]:
        base = self.root / QUARANTINE
        if source:
            base = base / source
        if not base.exists():
            return []
        return sorted(p for p in base.rglob("*.reason.json") if not p.name.startswith("."))

    def quarantined(self, source: str | None = None) -> list[dict]:
        """Reason records of quarantined files (all sources, or one); broken reason files are skipped
        (:meth:`broken_reason_files` lists them)."""
        records = []
        for p in self._reason_files(source):
            record = _read_record(p)
            if isinstance(record, dict):
                records.append(record)
        return records

    def broken_reason_files(self, source: str | None = None) -> list[tuple[str, str]]:
        """(reason file, what is wrong) for every reason file that cannot be read as a record."""
        out = []
        for p in self._reason_files(source):
            record = _read_record(p)
            if not isinstance(record, dict):
                out.append((printable_path(p), record))
        return out


def _read_record(path: Path) -> dict | str:
    """The record of a reason file, or a text saying why it is not one."""
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot be read: {type(exc).__name__}"
    if not text.strip():
        return "empty (0 bytes): the quarantine that wrote it was interrupted"
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        return f"not JSON: {exc}"[:200]
    if not isinstance(record, dict):
        return f"not a JSON object ({type(record).__name__})"
    return record
