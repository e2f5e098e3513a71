"""Published templates, cached per library generation, rendered through the guard.

A worker keeps a read-only copy of the published versions and reloads it whenever the library
generation (a counter in Redis, bumped after every publish) changes: rendering then costs no
database round trip, and a publish or kill switch takes effect on the next message everywhere.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import threading
import time
import tomllib
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Alert, ReplyTemplate, TemplateStatus, TemplateVersion, utcnow
from replies import guard
from replies.variables import SYSTEM_GENERATED, format_value
from replies.workflow import NOT_OVERRIDABLE, automatic_replies_enabled
from text.script import to_traditional

log = logging.getLogger(__name__)

# How long a worker trusts its cached library when the shared generation cannot be read (Redis down).
LOCAL_GENERATION_S = 5.0

SEED_FILE = Path(__file__).with_name("seed.toml")
FALLBACK_KEY = "safe_fallback"
# Last resort when even the published safe fallback cannot be loaded (database empty or down).
# It is the seed's safe_fallback text, reviewed with this file; version 0 marks "built in".
# A marker entry in the published map: the whole automatic layer is switched off.
AUTOMATIC_OFF = "__automatic_off__"
BUILTIN_FALLBACK = "您的留言已收到，工作人员会阅读并依规答复。紧急情况请直接拨打110、119、120、122。"


@dataclasses.dataclass(frozen=True)
class Published:
    """The published version of one enabled template."""

    key: str
    version: int
    body: str
    purpose: str
    triggers: tuple[str, ...] = ()
    match_mode: str | None = None
    scope_intent: str | None = None
    scope_department: str | None = None
    scope_case_state: str | None = None
    # Rules of the checks a reviewer accepted for this version, with a recorded reason.
    accepted: frozenset[str] = frozenset()


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
        # The language model's verdict per published version (key, version), for this generation: a
        # bot reply differs from its version's text only in system-generated values (numbers,
        # dates, department names), so the model runs once per version and every rule-based check
        # runs on every rendered text.
        self._model_verdicts: dict[tuple[str, int], list[guard.Violation]] = {}
        # The findings on a version rendered without values (a FAQ answer, the welcome): the same text
        # every time, so it is checked once per version and generation, like the model's verdict.
        self._constant_findings: dict[tuple[str, int], list[guard.Violation]] = {}

    @staticmethod
    def local_generation() -> str:
        """A generation token for when the shared one is unknown (Redis down); it changes every LOCAL_GENERATION_S.

        Without it every message read the library from the database and rebuilt its indexes (about 10 ms of
        CPU, five times a message's whole cost), so a Redis outage under load slowed every answer. With it a
        worker reads the library at most every few seconds, and a template published meanwhile goes out
        within that time.
        """
        return f"local:{int(time.monotonic() // LOCAL_GENERATION_S)}"

    def published(self, session: Session, generation: str | None) -> dict[str, Published]:
        """All enabled, published templates by key, as of ``generation`` (None: unknown, read afresh)."""
        with self._lock:
            if generation is not None and self._generation == generation:
                return self._published
        fresh = _load_published(session)
        if generation is not None:
            with self._lock:
                self._generation, self._published = generation, fresh
                self._model_verdicts = {}
                self._constant_findings = {}
        return fresh

    def render(
        self,
        session: Session,
        key: str,
        variables: dict[str, Any] | None = None,
        *,
        generation: str | None = None,
        deadline_with_time: bool = False,
        traditional: bool = False,
    ) -> Rendered:
        """Render the published version of ``key``; the safe fallback (and an alert) if anything fails.

        ``traditional``: the citizen writes in Traditional characters; the text is converted after
        the checks passed.
        """
        return _in_script(self._render(session, key, variables or {}, generation, deadline_with_time), traditional)

    def _render(
        self, session: Session, key: str, variables: dict[str, Any], generation: str | None, deadline_with_time: bool
    ) -> Rendered:
        try:
            published = self.published(session, generation)
        except Exception:
            log.exception("reply library unavailable; sending the built-in fallback")
            return Rendered(BUILTIN_FALLBACK, FALLBACK_KEY, 0, True)
        if AUTOMATIC_OFF in published:
            # The kill switch is off: only the safe fallback goes out, and that is not an incident.
            return self._fallback(session, published, None)
        template = published.get(key)
        if template is None:
            return self._fallback(session, published, f"template {key!r} is not published or is disabled")
        try:
            text = fill(template.body, variables, self.tz, deadline_with_time=deadline_with_time)
        except KeyError as exc:
            return self._fallback(session, published, f"template {key}@{template.version}: missing value {exc}")
        violations = self._findings(template, text, variables)
        if violations:
            rules = ", ".join(sorted({v.rule for v in violations}))
            return self._fallback(session, published, f"template {key}@{template.version} failed the guard: {rules}")
        return Rendered(text, key, template.version)

    def _findings(self, template: Published, text: str, variables: dict[str, Any]) -> list[guard.Violation]:
        if variables:
            return _unaccepted(template, text, variables, self._model_verdict(template, text))
        key = (template.key, template.version)
        found = self._constant_findings.get(key)
        if found is None:
            found = _unaccepted(template, text, variables, self._model_verdict(template, text))
            with self._lock:
                self._constant_findings[key] = found
        return found

    def _model_verdict(self, template: Published, text: str) -> list[guard.Violation]:
        key = (template.key, template.version)
        verdict = self._model_verdicts.get(key)
        if verdict is None:
            verdict = guard.model_findings(text)
            with self._lock:
                self._model_verdicts[key] = verdict
        return verdict

    def render_offline(self, key: str, *, traditional: bool = False) -> Rendered:
        """Render ``key`` from this worker's cached library, without a database (it may be down).

        Only templates without placeholders can be rendered so; anything else, or an empty cache,
        gives the safe fallback (the cached one, else the built-in text).
        """
        with self._lock:
            published = self._published
        template = published.get(key)
        if AUTOMATIC_OFF in published or template is None or guard.placeholders(template.body):
            template = published.get(FALLBACK_KEY)
        if template is None or [v for v in guard.check_text(template.body) if v.rule not in template.accepted]:
            rendered = Rendered(BUILTIN_FALLBACK, FALLBACK_KEY, 0, True)
        else:
            rendered = Rendered(template.body, template.key, template.version, template.key == FALLBACK_KEY)
        return _in_script(rendered, traditional)

    def _fallback(self, session: Session, published: dict[str, Published], reason: str | None) -> Rendered:
        if reason is not None:
            log.error("safe fallback sent: %s", reason)
            session.add(Alert(kind="reply_fallback", detail=reason))
        fallback = published.get(FALLBACK_KEY)
        if fallback is not None and not guard.check_text(fallback.body):
            return Rendered(fallback.body, fallback.key, fallback.version, True)
        return Rendered(BUILTIN_FALLBACK, FALLBACK_KEY, 0, True)


class NotSendable(Exception):
    """A reply a person chose cannot be sent as it is; ``str()`` is a Chinese message for them."""


def render_chosen(
    library: Library,
    session: Session,
    key: str,
    variables: dict[str, Any],
    *,
    purposes: frozenset[str] | None = None,
    traditional: bool = False,
) -> Rendered:
    """Render a template a person chose to send, or raise :class:`NotSendable` — never the fallback.

    The safe fallback is right for the bot, which must say something; a person who picked a
    template must instead learn that it cannot be sent (switched off, not published, fails the checks).
    """
    # The whole-library kill switch stops automatic replies only: a person's answer is a reviewed
    # template too and still goes out. A template switched off on its own is not in ``published``.
    published = library.published(session, None)
    template = published.get(key)
    if template is None:
        raise NotSendable("该模板未发布或已关闭，不能发送")
    if purposes is not None and template.purpose not in purposes:
        raise NotSendable("该模板不能用于答复群众")
    missing = sorted(guard.placeholders(template.body) - set(variables))
    if missing:
        raise NotSendable("请填写：" + "、".join(missing))
    try:
        text = fill(template.body, variables, library.tz)
    except KeyError as exc:
        raise NotSendable(f"不允许的字段：{exc}") from None
    # The model runs on this text itself: a person chose its values.
    problems = _unaccepted(template, text, variables, None)
    if problems:
        raise NotSendable("发送前检查未通过：" + "；".join(p.message for p in problems))
    return _in_script(Rendered(text, key, template.version), traditional)


def _unaccepted(
    template: Published, text: str, variables: dict[str, Any], model: list[guard.Violation] | None
) -> list[guard.Violation]:
    """The checks' findings on a rendered ``text`` that no reviewer accepted for its version.

    ``model``: the language model's findings when already known for the version (None: run it here).
    """
    found = guard.check_text(
        text, has_deadline="deadline" in variables, trusted=_trusted(variables), use_model=model is None
    )
    if model is not None:
        found += model
    return [v for v in found if v.rule not in template.accepted]


def _in_script(rendered: Rendered, traditional: bool) -> Rendered:
    """The approved words, in the script the citizen wrote in; nothing else changes."""
    return dataclasses.replace(rendered, text=to_traditional(rendered.text)) if traditional else rendered


def _trusted(variables: dict[str, Any]) -> tuple[str, ...]:
    """System-generated values as they appear in the text (a case list holds several numbers)."""
    out: list[str] = []
    for name in SYSTEM_GENERATED & variables.keys():
        value = variables[name]
        if name == "case_list":
            out.extend(str(row[0]) for row in value)
        elif isinstance(value, str | int):
            out.append(str(value))
    return tuple(out)


def _load_published(session: Session) -> dict[str, Published]:
    rows = session.execute(
        select(
            ReplyTemplate.key,
            ReplyTemplate.purpose,
            ReplyTemplate.is_enabled,
            ReplyTemplate.scope_intent,
            ReplyTemplate.scope_department,
            ReplyTemplate.scope_case_state,
            TemplateVersion.version,
            TemplateVersion.body,
            TemplateVersion.triggers,
            TemplateVersion.match_mode,
            TemplateVersion.overrides,
        )
        .join(TemplateVersion, TemplateVersion.template_id == ReplyTemplate.id)
        .where(TemplateVersion.status == TemplateStatus.PUBLISHED)
    ).all()
    fresh: dict[str, Published] = {}
    for r in rows:
        # The safe fallback is never switched off: it is what a switched-off template is replaced by.
        if not r.is_enabled and r.purpose != "fallback":
            continue
        fresh[r.key] = Published(
            r.key,
            r.version,
            r.body,
            r.purpose,
            tuple(json.loads(r.triggers or "[]")),
            r.match_mode,
            r.scope_intent,
            r.scope_department,
            r.scope_case_state,
            frozenset(o["rule"] for o in json.loads(r.overrides or "[]")) - NOT_OVERRIDABLE,
        )
    if not automatic_replies_enabled(session):
        fresh[AUTOMATIC_OFF] = Published(AUTOMATIC_OFF, 0, "", "switch")
    return fresh


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


def load_seed(path: Path = SEED_FILE) -> list[dict[str, Any]]:
    """The seed templates as declared in the reviewed TOML file."""
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    return list(data["template"])


def install_seed(session: Session, path: Path = SEED_FILE, now: dt.datetime | None = None) -> int:
    """Insert the seed templates that are not in the database yet, published; returns how many.

    Idempotent: an existing key is left alone, whatever its versions, so re-running ``init-db``
    never overwrites what reviewers published since. This is the only way text enters the library
    without review in the application: the seed file is reviewed as code.
    """
    now = now or utcnow()
    existing = set(session.scalars(select(ReplyTemplate.key)))
    added = 0
    for item in load_seed(path):
        if item["key"] in existing:
            continue
        problems = guard.check_template(item["body"])
        if problems:
            raise ValueError(f"seed template {item['key']} fails the checks: {problems}")
        template = ReplyTemplate(
            key=item["key"],
            purpose=item["purpose"],
            title=item.get("title"),
            description=item.get("description", ""),
            scope_intent=item.get("scope_intent"),
            scope_department=item.get("scope_department"),
            scope_case_state=item.get("scope_case_state"),
            created_by="seed",
        )
        template.versions.append(
            TemplateVersion(
                version=1,
                body=item["body"],
                triggers=json.dumps(list(item.get("triggers", [])), ensure_ascii=False),
                match_mode=item.get("match"),
                status=TemplateStatus.PUBLISHED,
                author="seed",
                approved_by="seed",
                created_at=now,
                approved_at=now,
                published_at=now,
                published_by="seed",
            )
        )
        session.add(template)
        added += 1
    session.flush()
    return added


def fill_seed_titles(session: Session, path: Path = SEED_FILE) -> int:
    """Give seed templates installed before titles existed their seed title; returns how many.

    Only a title that is still empty is written: one set in the console since is staff's choice
    and stays. Titles are staff labels, never sent to citizens, so this needs no review.
    """
    titles = {item["key"]: item["title"] for item in load_seed(path) if item.get("title")}
    filled = 0
    for template in session.scalars(select(ReplyTemplate).where(ReplyTemplate.title.is_(None))):
        title = titles.get(template.key)
        if title:
            template.title = title
            filled += 1
    session.flush()
    return filled


def guard_preview(body: str) -> str:
    """A body with sample values in its placeholders, to check it as a citizen would see it."""
    return guard.preview(body)
