"""Landing -> bronze, shared by every source (no Dagster): parse files, quarantine bad ones, add lineage."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import polars as pl

from lakehouse.errors import LakehouseError, LandingFileError
from lakehouse.landing import Landing, QuarantinedFile
from lakehouse.lineage import file_hash, with_lineage


@dataclass
class LandedBatch:
    """What one landing read produced: rows with lineage, the files read and the files quarantined."""

    frame: pl.DataFrame
    files: list[str] = field(default_factory=list)
    quarantined: list[QuarantinedFile] = field(default_factory=list)


def land_files(
    landing: Landing,
    source: str,
    files: list[Path],
    parse: Callable[[Path], pl.DataFrame],
    batch_id: Callable[[Path], str],
) -> LandedBatch:
    """Parse each file; a file that fails is moved to quarantine with its reason, the rest go on."""
    frames, read, quarantined = [], [], []
    for path in files:
        try:
            df = parse(path)
        except LandingFileError as exc:
            quarantined.append(landing.quarantine(source, path, exc.reason))
            continue
        except (LakehouseError, ValueError, pl.exceptions.PolarsError) as exc:  # parser bug or odd file
            quarantined.append(landing.quarantine(source, path, f"{type(exc).__name__}: {exc}"))
            continue
        frames.append(with_lineage(df, str(path), file_hash(path), batch_id(path)))
        read.append(str(path))
    frame = pl.concat(frames, how="vertical") if frames else pl.DataFrame()
    return LandedBatch(frame, read, quarantined)
