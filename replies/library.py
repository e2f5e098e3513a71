"""Published templates, cached per library generation, rendered through the guard.

A worker keeps a read-only copy of the published versions and reloads it whenever the library
generation (a counter in Redis, bumped after every publish) changes: rendering then costs no
database round trip, and a publish or kill switch takes effect on the next message everywhere.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import tomllib
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Alert, ReplyTemplate, TemplateStatus, TemplateVersion, utcnow
from replies import guard
from replies.variables import SYSTEM_GENERATED, format_value

log = logging.getLogger(__name__)

SEED_FILE = Path(__file__).with_name("seed.toml")
FALLBACK_KEY = "safe_fallback"
# Last resort when even the published safe fallback cannot be loaded (database empty or down).
# It is the seed's safe_fallback text, reviewed with this file; version 0 marks "built in".
BUILTIN_FALLBACK = "您的留言已收到，工作人员会阅读并依规答复。紧急情况请直接拨打110、119、120、122。"


@dataclasses.dataclass(frozen=True)
class Published:
    """The published version of one enabled template."""

    key: str
    version: int
    body: str
    purpose: str


@dataclasses.dataclass(frozen=True)
class Rendered:
    """A reply text ready to send and the version that produced it."""

    text: str
    template_key: str
    template_version: int
    is_fallback: bool = False


class Library:
    """Read access to the published library, with a per-generation cache."""

    def __init__(self, timezone: str = "Asia/Shanghai") -> None:
        self.tz = ZoneInfo(timezone)
        self._lock = threading.Lock()
        self._generation: str | None = None
        self._published: dict[str, Published] = {}

    def published(self, session: Session, generation: str | None) -> dict[str, Published]:
        """All enabled, published templates by key, as of ``generation`` (None: unknown, read afresh)."""
        with self._lock:
            if generation is not None and self._generation == generation:
                return self._published
        rows = session.execute(
            select(ReplyTemplate.key, ReplyTemplate.purpose, TemplateVersion.version, TemplateVersion.body)
            .join(TemplateVersion, TemplateVersion.template_id == ReplyTemplate.id)
            .where(TemplateVersion.status == TemplateStatus.PUBLISHED, ReplyTemplate.is_enabled.is_(True))
        ).all()
        fresh = {r.key: Published(r.key, r.version, r.body, r.purpose) for r in rows}
        if generation is not None:
            with self._lock:
                self._generation, self._published = generation, fresh
        return fresh

    def render(
        self,
        session: Session,
        key: str,
        variables: dict[str, Any] | None = None,
        *,
        generation: str | None = None,
        deadline_with_time: bool = False,
    ) -> Rendered:
        """Render the published version of ``key``; the safe fallback (and an alert) if anything fails."""
        variables = variables or {}
        try:
            published = self.published(session, generation)
        except Exception:
            log.exception("reply library unavailable; sending the built-in fallback")
            return Rendered(BUILTIN_FALLBACK, FALLBACK_KEY, 0, True)
        template = published.get(key)
        if template is None:
            return self._fallback(session, published, f"template {key!r} is not published or is disabled")
        try:
            text = fill(template.body, variables, self.tz, deadline_with_time=deadline_with_time)
        except KeyError as exc:
            return self._fallback(session, published, f"template {key}@{template.version}: missing value {exc}")
        trusted = tuple(str(variables[name]) for name in SYSTEM_GENERATED if name in variables)
        violations = guard.check_text(text, has_deadline="deadline" in variables, trusted=trusted)
        if violations:
            rules = ", ".join(sorted({v.rule for v in violations}))
            return self._fallback(session, published, f"template {key}@{template.version} failed the guard: {rules}")
        return Rendered(text, key, template.version)

    def _fallback(self, session: Session, published: dict[str, Published], reason: str) -> Rendered:
        log.error("safe fallback sent: %s", reason)
        session.add(Alert(kind="reply_fallback", detail=reason))
        fallback = published.get(FALLBACK_KEY)
        if fallback is not None and not guard.check_text(fallback.body):
            return Rendered(fallback.body, fallback.key, fallback.version, True)
        return Rendered(BUILTIN_FALLBACK, FALLBACK_KEY, 0, True)


def fill(body: str, variables: dict[str, Any], tz: ZoneInfo, *, deadline_with_time: bool = False) -> str:
    """Substitute whitelisted placeholders; ``KeyError`` for a placeholder without a value."""
    out = body
    for name in guard.placeholders(body):
        if name not in variables:
            raise KeyError(name)
        out = out.replace(
            "{" + name + "}", format_value(name, variables[name], tz, deadline_with_time=deadline_with_time)
        )
    return out


def load_seed(path: Path = SEED_FILE) -> list[dict[str, str]]:
    """The seed templates as declared in the reviewed TOML file."""
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    return list(data["template"])


def install_seed(session: Session, path: Path = SEED_FILE, now: dt.datetime | None = None) -> int:
    """Insert the seed templates that are not in the database yet, published; returns how many.

    Idempotent: an existing key is left alone, whatever its versions, so re-running ``init-db``
    never overwrites what reviewers published since.
    """
    now = now or utcnow()
    existing = set(session.scalars(select(ReplyTemplate.key)))
    added = 0
    for item in load_seed(path):
        if item["key"] in existing:
            continue
        problems = guard.check_text(
            guard_preview(item["body"]), has_deadline="deadline" in guard.placeholders(item["body"])
        )
        if problems:
            raise ValueError(f"seed template {item['key']} fails the guard: {problems}")
        template = ReplyTemplate(key=item["key"], purpose=item["purpose"], description=item.get("description", ""))
        template.versions.append(
            TemplateVersion(
                version=1,
                body=item["body"],
                status=TemplateStatus.PUBLISHED,
                author="seed",
                approved_by="seed",
                created_at=now,
                published_at=now,
            )
        )
        session.add(template)
        added += 1
    session.flush()
    return added


def guard_preview(body: str) -> str:
    """A body with sample values in its placeholders, to check it as a citizen would see it."""
    samples = {
        "case_number": "20261127000123",
        "deadline": "2026年12月18日",
        "department": "综合受理部门",
        "date": "2026年11月27日",
        "emergency_number": "110",
        "progress": "已派单至承办部门",
    }
    out = body
    for name in guard.placeholders(body):
        out = out.replace("{" + name + "}", samples.get(name, "{" + name + "}"))
    return out
