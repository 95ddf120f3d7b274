"""The landing zone: raw files as delivered, one folder per source.

Layout::

    landing/<source>/<file>                  sources read whole (catalogues, shelters, statistics)
    landing/<source>/<batch_id>/<files>      batch sources (narratives, census text, tiles)
    landing/_quarantine/<source>/<file>      files that could not be read, with <file>.reason.json

A file is quarantined by moving it, so a rerun no longer trips on it and nothing already in the
lakehouse is touched.
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

    def source_dir(self, source: str) -> Path:
        override = self.overrides.get(source)
        if override is not None:
            return override
        return self.root / source

    def _keep(self, p: Path) -> bool:
        return (p.is_file() and QUARANTINE not in p.parts and not p.name.endswith(".reason.json")
                and not p.name.startswith("."))

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
        """Move ``path`` to ``landing/_quarantine/<source>/`` with a ``.reason.json`` next to it."""
        path = Path(path)
        qdir = self.root / QUARANTINE / source
        qdir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        target = qdir / f"{stamp}__{path.name}"
        shutil.move(str(path), target)
        reason_file = target.with_name(target.name + ".reason.json")
        reason_file.write_text(json.dumps({
            "source": source,
            "original_path": str(path),
            "quarantined_at": datetime.now(timezone.utc).isoformat(),
            "reason": reason,
        }, ensure_ascii=False, indent=2))
        return QuarantinedFile(source, str(path), str(target), reason)

    def quarantined(self, source: str | None = None) -> list[dict]:
        """Reason records of quarantined files (all sources, or one)."""
        base = self.root / QUARANTINE
        if source:
            base = base / source
        if not base.exists():
            return []
        return [json.loads(p.read_text()) for p in sorted(base.rglob("*.reason.json"))]
