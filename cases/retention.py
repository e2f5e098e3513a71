"""Retention: personal data is kept only as long as needed (PIPL), the record and the statistics stay.

After the retention period, a message's text and raw XML are replaced by a fixed marker (its digest
stays in the hash chain), a closed case's summary likewise, and a citizen with nothing recent left
gets a pseudonymous OpenID. Intent, department, times, template versions, ratings and the audit
log are kept: the unit's figures and its accountability survive the anonymisation.

The photos, voice and video sent with an anonymised message go with it: the attachment row is marked
``purged_at`` and loses its EXIF location and WeChat ids, keeping kind, size, times and the SHA-256 (exports
still list the hash). This layer does no I/O: the files themselves are deleted by the media sweep
(``bot.media.delete_purged``, run by every worker's upkeep and ``python -m bot fetch-media``), which finds
purged rows that still name objects.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from cases.chain import ANONYMISED
from models import Attachment, AuditEntry, Case, Citizen, Message

PSEUDONYM_PREFIX = "anon-"


@dataclasses.dataclass(frozen=True)
class RetentionReport:
    """How many rows one run anonymised (or would, in a dry run)."""

    messages: int
    cases: int
    citizens: int
    attachments: int = 0


def anonymise(
    session: Session, now: dt.datetime, days: int, *, dry_run: bool = False, actor: str = "retention"
) -> RetentionReport:
    """Anonymise what is older than ``days`` (flushes; the caller commits). Messages of open cases wait."""
    cutoff = now - dt.timedelta(days=days)
    # A message belongs to a case as its reply (case_id) or as the message that opened it.
    belongs = or_(Case.id == Message.case_id, Case.opening_message_id == Message.id)
    open_case = exists().where(belongs, or_(Case.closed_at.is_(None), Case.closed_at >= cutoff))
    messages = and_(Message.received_at < cutoff, Message.content != ANONYMISED, ~open_case)
    cases = and_(Case.closed_at.is_not(None), Case.closed_at < cutoff, Case.summary != ANONYMISED)
    recent = exists().where(Message.citizen_id == Citizen.id, Message.received_at >= cutoff)
    citizens = and_(Citizen.last_seen_at < cutoff, ~Citizen.openid.startswith(PSEUDONYM_PREFIX), ~recent)
    # Attachments of the messages anonymised now (decided before the messages' text changes).
    attachments = and_(Attachment.purged_at.is_(None), Attachment.message_id.in_(select(Message.id).where(messages)))
    counts = RetentionReport(
        session.scalar(select(func.count()).select_from(Message).where(messages)) or 0,
        session.scalar(select(func.count()).select_from(Case).where(cases)) or 0,
        session.scalar(select(func.count()).select_from(Citizen).where(citizens)) or 0,
        session.scalar(select(func.count()).select_from(Attachment).where(attachments)) or 0,
    )
    if dry_run:
        return counts
    session.execute(
        update(Attachment)
        .where(attachments)
        .values(purged_at=now, exif_location=None, media_id=None, source_url=None, last_error=None),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        update(Message).where(messages).values(content=ANONYMISED, raw_xml=None),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        update(Case).where(cases).values(summary=ANONYMISED), execution_options={"synchronize_session": False}
    )
    for citizen_id, openid in session.execute(select(Citizen.id, Citizen.openid).where(citizens)).all():
        digest = hashlib.sha256(openid.encode()).hexdigest()[:40]
        session.execute(update(Citizen).where(Citizen.id == citizen_id).values(openid=PSEUDONYM_PREFIX + digest))
    session.add(
        AuditEntry(
            actor=actor,
            action="retention.anonymise",
            target=f"older than {days} days",
            detail=(
                f"messages={counts.messages} cases={counts.cases} citizens={counts.citizens} "
                f"attachments={counts.attachments}"
            ),
            source="job",
        )
    )
    session.flush()
    return counts
