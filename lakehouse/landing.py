"""The landing zone: raw files as delivered, one folder per source.

Layout::

    landing/<source>/<file>                  sources read whole (catalogues, shelters, statistics)
    landing/<source>/<batch_id>/<files>      batch sources (narratives, census text, tiles)
    landing/_quarantine/<source>/<file>      files that could not be read, with <file>.reason.json

A file is quarantined by moving it, so a rerun no longer trips on it and nothing already in the
lakehouse is touched. A file of a source pointed elsewhere (``FMLAKE_SOURCE_*``: shared or read-only
data) is copied instead, never moved or deleted; while it stays as it was (same size and modification
time) the landing lists it no more; once it changes it is read again.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

QUARANTINE = "_quarantine"


@dataclass(frozen=True)
class QuarantinedFile:
    source: str
    original: str
    moved_to: str
    reason: str


class Landing:
    """Local landing root. ``sources`` maps a source name to an override folder or file (real data)."""

    def __init__(self, root: str | Path, overrides: dict[str, str] | None = None):
        self.root = Path(root).expanduser().resolve()
        self.overrides = {k: Path(v).expanduser().resolve() for k, v in (overrides or {}).items()}
        self._kept: set[tuple[str, int, int]] | None = None   # quarantined in place (read lazily)

    def source_dir(self, source: str) -> Path:
        override = self.overrides.get(source)
        if override is not None:
            return override
        return self.root / source

    def _keep(self, p: Path) -> bool:
        return (p.is_file() and QUARANTINE not in p.parts and not p.name.endswith(".reason.json")
                and not p.name.startswith(".") and not self._quarantined_in_place(p))

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
        st = p.stat()
        return (str(p.resolve()), st.st_size, st.st_mtime_ns) in self._kept

    def loose_batch(self, source: str) -> str:
        """Name of the batch formed by files lying directly in the source folder (real-data folders)."""
        base = self.source_dir(source)
        return base.stem if base.is_file() else base.name

    def files(self, source: str, patterns: tuple[str, ...] = ("*",), batch: str | None = None) -> list[Path]:
        """Files of a source (or of one batch of it), sorted; quarantine and reason files excluded.

        A batch is a sub-folder; files lying directly in the source folder form one more batch named
        after the folder (so a folder of real files, or a single file, ingests as a batch).
        """
        base = self.source_dir(source)
        if base.is_file():
            return [base] if batch in (None, base.stem) else []
        if not base.exists():
            return []
        found: set[Path] = set()
        if batch is None:
            for pattern in patterns:
                found.update(p for p in base.rglob(pattern) if self._keep(p))
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
        names = [p.name for p in base.iterdir() if p.is_dir() and p.name != QUARANTINE
                 and not p.name.startswith(".")]
        if any(self._keep(p) for p in base.iterdir()):
            names.append(base.name)
        return sorted(names)

    def quarantine(self, source: str, path: str | Path, reason: str) -> QuarantinedFile:
        """Move ``path`` to ``landing/_quarantine/<source>/`` with a ``.reason.json`` next to it.

        A file outside the landing root (a source pointed at shared data) is copied and left in place."""
        path = Path(path)
        qdir = self.root / QUARANTINE / source
        qdir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        target = qdir / f"{stamp}__{path.name}"
        record = {"source": source, "original_path": str(path.resolve()),
                  "quarantined_at": datetime.now(timezone.utc).isoformat(), "reason": reason}
        if self._inside(path):
            shutil.move(str(path), target)
        else:
            st = path.stat()
            shutil.copy2(path, target)
            record.update(kept_in_place=True, size=st.st_size, mtime_ns=st.st_mtime_ns)
        reason_file = target.with_name(target.name + ".reason.json")
        reason_file.write_text(json.dumps(record, ensure_ascii=False, indent=2))
        self._kept = None
        return QuarantinedFile(source, str(path), str(target), reason)

    def quarantined(self, source: str | None = None) -> list[dict]:
        """Reason records of quarantined files (all sources, or one)."""
        base = self.root / QUARANTINE
        if source:
            base = base / source
        if not base.exists():
            return []
        return [json.loads(p.read_text()) for p in sorted(base.rglob("*.reason.json"))]
