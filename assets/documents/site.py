"""The published static site: an index and one page per approved document (no Dagster).

Layout under ``<root>/site``::

    index.html
    <draft_id>/index.html
    <draft_id>/charts/<chart>.png

Files are written to a temporary name and moved into place (``os.replace``), so a server reading
the site never sees a half-written page; folders of documents no longer published are removed.
Every text goes through the autoescaped templates.
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import datetime
from pathlib import Path

import polars as pl

from assets.documents.render import document_html, render_template
from assets.documents.review import publishable
from assets.documents.store import exhibits, get_draft, utcnow
from lakehouse import Lakehouse
from lakehouse.tables import documents as T

_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def site_dir(lh: Lakehouse) -> Path:
    """The published site as a local folder: ``<root>/site``, or this node's copy of it on an object store."""
    if lh.remote:
        return lh.artifacts.fetch(lh.path("site"))
    path = Path(lh.path("site"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def build_site(lh: Lakehouse, out_dir: str | Path | None = None, now: datetime | None = None) -> pl.DataFrame:
    """Render every publishable draft into ``out_dir`` (default ``<root>/site``, local or object store,
    through ``lh.artifacts``); returns the rows of ``gold.published_documents``."""
    if out_dir is None:
        with lh.artifacts.directory("site") as out:
            return _build_site(lh, out, now)
    return _build_site(lh, Path(out_dir), now)


def _build_site(lh: Lakehouse, out: Path, now: datetime | None) -> pl.DataFrame:
    now = now or utcnow()
    out.mkdir(parents=True, exist_ok=True)
    rows, entries = [], []
    for p in publishable(lh):
        if not _SAFE_ID.match(p.draft_id):
            raise ValueError(f"draft id {p.draft_id!r} cannot be a folder name")
        draft = get_draft(lh, p.draft_id, p.version)
        if draft is None:
            raise ValueError(f"approved draft {p.draft_id} v{p.version} is missing from {T.document_drafts.key}")
        page_dir = out / p.draft_id
        staging = out / f".{p.draft_id}.charts-{os.getpid()}"
        if staging.exists():
            shutil.rmtree(staging)
        _, tables, charts = exhibits(draft, None)
        drawn = (lh.artifacts.fetch(draft.artifacts_dir) if draft.artifacts_dir else Path("/nonexistent")) / "charts"
        if all((drawn / c.filename).is_file() for c in charts):
            for c in charts:  # drawn when the version was created: reuse them
                c.path = str(drawn / c.filename)
        else:
            _, tables, charts = exhibits(draft, staging)
        approval = {"approved_by": p.approved_by, "approved_at": p.approved_at.strftime("%Y-%m-%d %H:%M UTC")}
        html = document_html(draft, tables, charts, chart_prefix="charts/", published=True, home="../",
                             approval=approval)
        for c in charts:
            _atomic_write(page_dir / "charts" / c.filename, Path(c.path).read_bytes())
        shutil.rmtree(staging, ignore_errors=True)
        _atomic_write(page_dir / "index.html", html.encode("utf-8"))
        page = f"{p.draft_id}/index.html"
        rows.append({"draft_id": p.draft_id, "version": p.version, "title": draft.title,
                     "sector_code": draft.sector_code, "geo_code": draft.geo_code, "geo_name": draft.geo_name,
                     "approved_by": p.approved_by, "approved_at": p.approved_at, "page_path": page,
                     "published_at": now})
        entries.append({"href": f"{p.draft_id}/", "title": draft.title, "geo_name": draft.geo_name,
                        "sector_code": draft.sector_code, "version": p.version})
    index = render_template("site_index.html", documents=sorted(entries, key=lambda e: e["title"]),
                            generated_at=now.strftime("%Y-%m-%d %H:%M UTC"), home="./")
    _atomic_write(out / "index.html", index.encode("utf-8"))
    keep = {r["draft_id"] for r in rows}
    for child in out.iterdir():
        if child.is_dir() and child.name not in keep:
            shutil.rmtree(child)
    return pl.DataFrame(rows, schema=T.published_documents.schema)
