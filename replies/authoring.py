"""What authors and reviewers need to know about a template's versions, beyond the lifecycle rules.

Which version a new one starts from, which versions wait side by side, why a version was rejected,
and which of an author's versions were decided since a given time (the console's notices).
Reading only: the rules that change versions live in :mod:`replies.workflow`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import ReplyTemplate, ReviewDecision, TemplateReview, TemplateStatus, TemplateVersion


def starting_point(tpl: ReplyTemplate) -> TemplateVersion | None:
    """The version a new version of ``tpl`` starts from: the live one, else the latest approved, else the latest.

    Starting from the latest version whatever its state made an author build on a rejected text
    without knowing it; the live text is what citizens read now, so a change is made against it.
    """
    ordered = sorted(tpl.versions, key=lambda v: v.version)
    for wanted in (TemplateStatus.PUBLISHED, TemplateStatus.APPROVED):
        found = [v for v in ordered if v.status is wanted]
        if found:
            return found[-1]
    return ordered[-1] if ordered else None


def pending_versions(tpl: ReplyTemplate) -> list[TemplateVersion]:
    """The versions of ``tpl`` waiting for review, oldest first (more than one deserves a warning)."""
    return sorted((v for v in tpl.versions if v.status is TemplateStatus.IN_REVIEW), key=lambda v: v.version)


def rejection(ver: TemplateVersion) -> TemplateReview | None:
    """The review that rejected ``ver`` (its comment is the reason), if it was rejected."""
    if ver.status is not TemplateStatus.REJECTED:
        return None
    found = [r for r in ver.reviews if r.decision is ReviewDecision.REJECT]
    return found[-1] if found else None


@dataclasses.dataclass(frozen=True)
class Decision:
    """A reviewer's final word on a version: approved (all levels) or rejected, with when and why."""

    version: TemplateVersion
    approved: bool
    at: dt.datetime
    reviewer: str
    comment: str


def decisions_for(session: Session, author: str, since: dt.datetime) -> list[Decision]:
    """Approvals and rejections of versions ``author`` wrote, decided after ``since``, newest first."""
    versions = session.scalars(
        select(TemplateVersion).where(
            TemplateVersion.author == author,
            TemplateVersion.status.in_(
                [TemplateStatus.REJECTED, TemplateStatus.APPROVED, TemplateStatus.PUBLISHED, TemplateStatus.RETIRED]
            ),
            (TemplateVersion.approved_at > since) | (TemplateVersion.status == TemplateStatus.REJECTED),
        )
    ).all()
    out: list[Decision] = []
    for ver in versions:
        rejected = rejection(ver)
        if rejected is not None:
            if rejected.created_at > since:
                out.append(Decision(ver, False, rejected.created_at, rejected.reviewer, rejected.comment))
        elif ver.approved_at is not None and ver.approved_at > since:
            final = [r for r in ver.reviews if r.decision is ReviewDecision.APPROVE]
            comment = final[-1].comment if final else ""
            out.append(Decision(ver, True, ver.approved_at, ver.approved_by or "", comment))
    return sorted(out, key=lambda d: d.at, reverse=True)
