"""Writing the audit log from the console (the library's own steps are written by replies.workflow)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from models import AuditEntry
from text.pii import mask_text


def record(session: Session, actor: str, action: str, target: str = "", detail: str = "", source: str = "") -> None:
    """Add one audit entry (masked: a reason typed by a person may quote personal data)."""
    session.add(
        AuditEntry(
            actor=actor[:80],
            action=action[:40],
            target=mask_text(target)[:120],
            detail=mask_text(detail)[:2000],
            source=source[:64],
        )
    )
