"""Expert review: the rules of a decision and the append-only history (no Dagster).

Rules of :func:`record_review`:
- the decision is ``approved``, ``rejected`` or ``changes_requested``; a reviewer name is required,
  and a comment is required to reject or request changes;
- the (draft, version) must exist and be the draft's latest version (an outdated version is not
  reviewed: its successor is what would be published);
- a version with any number the grounding check flagged is never approved;
- rows are only ever appended; the latest row of a (draft, version) is its state.

What is published (:func:`publishable`): per draft, the highest version whose state is ``approved``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from assets.documents.store import get_draft, latest_versions, review_row, utcnow
from lakehouse import Lakehouse
from lakehouse.tables import documents as T

STATUSES = ("draft", "approved", "rejected", "changes_requested")
DECISIONS = ("approved", "rejected", "changes_requested")
STATUS_ES = {"draft": "borrador", "approved": "aprobado", "rejected": "rechazado",
             "changes_requested": "cambios solicitados"}
MAX_COMMENT = 4000
MAX_REVIEWER = 120


class ReviewError(ValueError):
    """A decision that the rules refuse (the message says why, in terms a reviewer understands)."""


def history(lh: Lakehouse, draft_id: str | None = None) -> pl.DataFrame:
    df = lh.read(T.document_reviews)
    if draft_id is not None:
        df = df.filter(pl.col("draft_id") == draft_id)
    return df.sort(["created_at", "review_id"])


def states(lh: Lakehouse) -> pl.DataFrame:
    """The latest review row of every (draft_id, version)."""
    df = history(lh)
    if df.height == 0:
        return df
    return df.group_by(["draft_id", "version"], maintain_order=True).last().sort(["draft_id", "version"])


def record_review(lh: Lakehouse, draft_id: str, version: int, status: str, reviewer: str, comment: str = "",
                  now: datetime | None = None) -> dict:
    """Validate a decision and append it to ``gold.document_reviews`` (one Delta transaction)."""
    reviewer = (reviewer or "").strip()
    comment = (comment or "").strip()
    if status not in DECISIONS:
        raise ReviewError(f"unknown decision {status!r}; one of {', '.join(DECISIONS)}")
    if not reviewer:
        raise ReviewError("a reviewer name is required")
    if len(reviewer) > MAX_REVIEWER or len(comment) > MAX_COMMENT:
        raise ReviewError(f"reviewer (max {MAX_REVIEWER}) or comment (max {MAX_COMMENT} characters) too long")
    if status != "approved" and not comment:
        raise ReviewError("a comment is required to reject a draft or request changes")
    draft = get_draft(lh, draft_id, version)
    if draft is None:
        raise ReviewError(f"draft {draft_id!r} version {version} does not exist")
    latest = get_draft(lh, draft_id)
    if latest is not None and latest.version != version:
        raise ReviewError(f"draft {draft_id} version {version} is outdated: review version {latest.version}")
    if status == "approved" and draft.grounding.flagged:
        flagged = [i.text for i in draft.grounding.items if i.status == "flagged"]
        raise ReviewError(f"draft {draft_id} version {version} has {len(flagged)} number(s) not backed by any "
                          f"fact ({', '.join(flagged)}): it cannot be approved; request changes or reject it")
    now = now or utcnow()
    previous = history(lh, draft_id)
    if previous.height:
        last = previous.get_column("created_at").max()
        if last is not None and now <= last:
            now = last + timedelta(microseconds=1)  # history order never depends on clock skew
    row = review_row(draft_id, version, status, reviewer, comment, draft.grounding.flagged, now)
    lh.write(T.document_reviews, pl.DataFrame([row], schema=T.document_reviews.schema), mode="append")
    return row


@dataclass(frozen=True)
class Publishable:
    draft_id: str
    version: int
    approved_by: str
    approved_at: datetime


def publishable(lh: Lakehouse) -> list[Publishable]:
    """Per draft, the highest version whose latest review is ``approved`` (never one with flagged numbers)."""
    st = states(lh)
    if st.height == 0:
        return []
    ok = st.filter((pl.col("status") == "approved") & (pl.col("numbers_flagged") == 0))
    best = ok.sort(["draft_id", "version"]).group_by("draft_id", maintain_order=True).last()
    return [Publishable(r["draft_id"], r["version"], r["reviewer"], r["created_at"])
            for r in best.sort("draft_id").iter_rows(named=True)]


def overview(lh: Lakehouse) -> list[dict]:
    """For the review list: each draft's latest version with its state and what is published."""
    latest = latest_versions(lh)
    st = {(r["draft_id"], r["version"]): r for r in states(lh).iter_rows(named=True)} if latest.height else {}
    pub = {p.draft_id: p.version for p in publishable(lh)}
    out = []
    for r in latest.iter_rows(named=True):
        s = st.get((r["draft_id"], r["version"]))
        status = s["status"] if s else "draft"
        out.append({"draft_id": r["draft_id"], "version": r["version"], "title": r["title"],
                    "sector_code": r["sector_code"], "geo_name": r["geo_name"], "backend": r["backend"],
                    "numbers_found": r["numbers_found"], "numbers_flagged": r["numbers_flagged"],
                    "status": status, "status_es": STATUS_ES.get(status, status),
                    "published_version": pub.get(r["draft_id"])})
    return out
