"""The life of a reply template: draft → in review → approved → published → retired, nothing skipped.

These rules hold whatever page, command or job calls them (先审后发, review before publishing):

* a version's text and triggers never change once written (a change is a new version);
* only the author submits a draft; the checks run on submit and their findings travel with it;
* approving needs reviewers who are not the author — one per level, as many levels as the
  template's purpose requires (三审: first, second and final review), each a different person;
* a finding of the checks blocks approval unless the reviewer accepts it with a recorded reason,
  and some findings (personal data, unknown placeholders, length) can never be accepted;
* a rejection carries a comment and ends the version (the author writes a new one);
* the author may withdraw a version while it waits for review: it becomes a draft again, and a
  later submission starts the review afresh at the first level;
* publishing retires the version published before; rolling back republishes an older one, but an
  approved version older than the live one is never published over it (that would undo a newer
  reviewed text without anyone saying so);
* every step is written to the audit log with who did it and from where.

Functions take a ``Session`` and only flush; the caller commits and then tells the workers that
the library changed (:attr:`Change.library_changed`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, attributes

from models import (
    AuditEntry,
    ReplyTemplate,
    ReviewDecision,
    Setting,
    TemplateReview,
    TemplateStatus,
    TemplateVersion,
    utcnow,
)
from replies import guard

# Findings no reviewer may accept: they are facts about the text, not judgements.
NOT_OVERRIDABLE = frozenset({"personal_data", "unknown_placeholder", "unfilled_placeholder", "too_long", "empty"})
MATCH_MODES = ("contain", "equal")
MAX_REVIEW_LEVELS = 3
AUTOMATIC_REPLIES = "library.automatic_replies"
REVIEW_LEVELS_PREFIX = "library.review_levels."
# The immutable part of a version.
_FROZEN = ("body", "triggers", "match_mode", "version", "template_id", "author")


class LibraryError(Exception):
    """A library action that is not allowed; ``str()`` is a Chinese message for the person who tried."""


class NotAllowed(LibraryError):
    """The actor may not do this (e.g. approve their own text)."""


class WrongState(LibraryError):
    """The version is not in a state where this action applies."""


class NotFound(LibraryError):
    """No such template or version."""


@dataclasses.dataclass(frozen=True)
class Actor:
    """Who acts, and from where (an IP address, or ``cli``), for the audit log."""

    name: str
    source: str = ""


@dataclasses.dataclass(frozen=True)
class Change:
    """The outcome of one action: the version it touched and whether the published library changed."""

    version: TemplateVersion | None
    library_changed: bool = False


@event.listens_for(TemplateVersion, "before_update")
def _refuse_edits(mapper: Any, connection: Any, target: TemplateVersion) -> None:
    """Versions are immutable: changing a text or its triggers in place would rewrite history."""
    for name in _FROZEN:
        if attributes.get_history(target, name).has_changes():
            raise WrongState(f"模板版本一经创建不可修改（{name}）：请新建版本")


# -- reading ---------------------------------------------------------------------------------------


def template(session: Session, key: str) -> ReplyTemplate:
    """The template ``key``; :class:`NotFound` if there is none."""
    found = session.scalar(select(ReplyTemplate).where(ReplyTemplate.key == key))
    if found is None:
        raise NotFound(f"没有这个模板：{key}")
    return found


def version(session: Session, key: str, number: int) -> TemplateVersion:
    """Version ``number`` of template ``key``."""
    tpl = template(session, key)
    found = session.scalar(
        select(TemplateVersion).where(TemplateVersion.template_id == tpl.id, TemplateVersion.version == number)
    )
    if found is None:
        raise NotFound(f"模板 {key} 没有第 {number} 版")
    return found


def published_version(session: Session, tpl: ReplyTemplate) -> TemplateVersion | None:
    """The version of ``tpl`` the bot sends now, if any."""
    return session.scalar(
        select(TemplateVersion).where(
            TemplateVersion.template_id == tpl.id, TemplateVersion.status == TemplateStatus.PUBLISHED
        )
    )


def older_than_live(session: Session, ver: TemplateVersion) -> TemplateVersion | None:
    """The live version when ``ver`` is an approved version older than it (publishing ``ver`` is refused)."""
    if ver.status is not TemplateStatus.APPROVED:
        return None
    live = published_version(session, ver.template)
    return live if live is not None and live.version > ver.version else None


def findings(ver: TemplateVersion) -> list[dict[str, Any]]:
    """The checks' findings recorded when ``ver`` was submitted."""
    return list(json.loads(ver.findings or "[]"))


def overrides(ver: TemplateVersion) -> list[dict[str, Any]]:
    """The findings reviewers accepted for ``ver``, each with its reason."""
    return list(json.loads(ver.overrides or "[]"))


def triggers(ver: TemplateVersion) -> list[str]:
    """The FAQ questions or keywords of ``ver``."""
    return list(json.loads(ver.triggers or "[]"))


def review_levels(session: Session, purpose: str) -> int:
    """How many review levels a template of ``purpose`` needs (1 unless configured, at most 3)."""
    setting = session.get(Setting, REVIEW_LEVELS_PREFIX + purpose)
    return int(json.loads(setting.value)) if setting is not None else 1


def automatic_replies_enabled(session: Session) -> bool:
    """False when the whole automatic layer is switched off (only the safe fallback goes out)."""
    setting = session.get(Setting, AUTOMATIC_REPLIES)
    return bool(json.loads(setting.value)) if setting is not None else True


# -- writing ---------------------------------------------------------------------------------------


def create_template(
    session: Session,
    actor: Actor,
    key: str,
    purpose: str,
    *,
    title: str | None = None,
    description: str = "",
    scope_intent: str | None = None,
    scope_department: str | None = None,
    scope_case_state: str | None = None,
) -> ReplyTemplate:
    """A new template without any text yet (its first version is a draft); ``title`` is its Chinese name."""
    key = key.strip()
    title = _clean_title(title) if title is not None else None
    if not key or len(key) > 80 or not all(c.isascii() and (c.isalnum() or c in "_-.") for c in key):
        raise LibraryError("模板键只能由字母、数字、下划线、连字符或点组成，长度1至80")
    if not purpose.strip():
        raise LibraryError("请填写模板用途")
    if session.scalar(select(ReplyTemplate.id).where(ReplyTemplate.key == key)) is not None:
        raise LibraryError(f"模板键已存在：{key}")
    tpl = ReplyTemplate(
        key=key,
        purpose=purpose.strip(),
        title=title,
        description=description,
        scope_intent=scope_intent or None,
        scope_department=scope_department or None,
        scope_case_state=scope_case_state or None,
        created_by=actor.name,
    )
    session.add(tpl)
    session.flush()
    _audit(session, actor, "template.create", key, f"purpose={purpose}" + (f"; title={title}" if title else ""))
    return tpl


def set_title(session: Session, actor: Actor, key: str, title: str) -> Change:
    """Rename a template for staff (its Chinese title); not citizen text, so not reviewed, but audited."""
    tpl = template(session, key)
    new = _clean_title(title)
    old = tpl.title or ""
    if new == old:
        return Change(None)
    tpl.title = new
    session.flush()
    _audit(session, actor, "template.title", key, f"{old or '（无）'} → {new}")
    return Change(None)


def draft(
    session: Session,
    actor: Actor,
    key: str,
    body: str,
    *,
    trigger_list: Sequence[str] = (),
    match_mode: str | None = None,
    now: dt.datetime | None = None,
) -> TemplateVersion:
    """A new draft version of ``key`` written by ``actor`` (numbered after the latest one)."""
    tpl = template(session, key)
    body = body.replace("\r\n", "\n").strip()
    if not body:
        raise LibraryError("正文不能为空")
    clean_triggers = _clean_triggers(trigger_list)
    if match_mode is not None and match_mode not in MATCH_MODES:
        raise LibraryError("关键词匹配方式只能是“包含”(contain)或“完全匹配”(equal)")
    if match_mode is not None and not clean_triggers:
        raise LibraryError("关键词回复至少需要一个关键词")
    latest = session.scalar(select(func.max(TemplateVersion.version)).where(TemplateVersion.template_id == tpl.id))
    ver = TemplateVersion(
        template_id=tpl.id,
        version=(latest or 0) + 1,
        body=body,
        triggers=json.dumps(clean_triggers, ensure_ascii=False),
        match_mode=match_mode,
        status=TemplateStatus.DRAFT,
        author=actor.name,
        created_at=now or utcnow(),
    )
    session.add(ver)
    session.flush()
    _audit(session, actor, "template.draft", _target(tpl, ver))
    return ver


def submit(session: Session, actor: Actor, ver: TemplateVersion, *, now: dt.datetime | None = None) -> Change:
    """Send a draft to review, with the checks' findings (the author only)."""
    _expect(ver, TemplateStatus.DRAFT, "只有草稿可以提交审核")
    if ver.author != actor.name:
        raise NotAllowed("只有作者本人可以提交自己的草稿")
    found = check(ver.body)
    ver.findings = json.dumps(found, ensure_ascii=False)
    ver.review_levels = review_levels(session, ver.template.purpose)
    ver.status = TemplateStatus.IN_REVIEW
    ver.submitted_at = now or utcnow()
    _audit(session, actor, "template.submit", _target(ver.template, ver), f"findings={len(found)}")
    return Change(ver)


def withdraw(session: Session, actor: Actor, ver: TemplateVersion) -> Change:
    """Take a version back from review (its author only): it is a draft again and can be resubmitted.

    Approvals already given at lower levels stay in the history but do not count for a later
    submission (:func:`_this_round`): the reviewers approved a submission the author withdrew.
    """
    _expect(ver, TemplateStatus.IN_REVIEW, "只有待审核的版本可以撤回")
    if ver.author != actor.name:
        raise NotAllowed("只有作者本人可以撤回自己提交的版本")
    detail = f"approved_levels={_approvals(ver)}"
    if ver.overrides and ver.overrides != "[]":
        # The reasons reviewers gave were for the withdrawn submission: kept here, cleared on the version.
        detail += f"; overrides={ver.overrides}"
    ver.status = TemplateStatus.DRAFT
    ver.submitted_at = None
    ver.overrides = "[]"
    session.flush()
    _audit(session, actor, "template.withdraw", _target(ver.template, ver), detail[:4000])
    return Change(ver)


def approve(
    session: Session,
    actor: Actor,
    ver: TemplateVersion,
    *,
    comment: str = "",
    accept: dict[str, str] | None = None,
    reasons: dict[int, str] | None = None,
    now: dt.datetime | None = None,
) -> Change:
    """Approve ``ver`` at its next review level, accepting each overridable finding with a reason.

    ``reasons`` maps a finding's position in :func:`findings` to the reason it is acceptable;
    ``accept`` maps a rule to a reason for every finding of that rule not given one. Every reason is
    kept in the version's overrides. The version becomes APPROVED when its last level is approved.
    """
    _expect(ver, TemplateStatus.IN_REVIEW, "只有待审核的版本可以审核")
    _may_review(ver, actor)
    accept = {rule: reason.strip() for rule, reason in (accept or {}).items()}
    reasons = {index: reason.strip() for index, reason in (reasons or {}).items()}
    recorded = overrides(ver)
    accepted_rules: list[str] = []
    for index, finding in enumerate(findings(ver)):
        rule = finding["rule"]
        if _covered(recorded, index, finding):
            continue
        if rule in NOT_OVERRIDABLE:
            raise NotAllowed(f"“{finding['message']}”不能通过审核，请退回修改")
        # Each finding carries its own reason: one rule flagging two phrases is two judgements.
        reason = reasons.get(index) or accept.get(rule, "")
        if not reason:
            raise NotAllowed(f"检查发现问题：“{finding['message']}”。如确认无误，须填写理由后方可通过")
        recorded.append(
            {"rule": rule, "text": finding.get("text", ""), "reason": reason, "by": actor.name, "index": index}
        )
        accepted_rules.append(rule)
    now = now or utcnow()
    level = _approvals(ver) + 1
    session.add(
        TemplateReview(
            version_id=ver.id,
            level=level,
            reviewer=actor.name,
            decision=ReviewDecision.APPROVE,
            comment=comment.strip(),
            created_at=now,
        )
    )
    ver.overrides = json.dumps(recorded, ensure_ascii=False)
    if level >= ver.review_levels:
        ver.status = TemplateStatus.APPROVED
        ver.approved_by = actor.name
        ver.approved_at = now
    session.flush()
    session.expire(ver, ["reviews"])
    _audit(
        session,
        actor,
        "template.approve",
        _target(ver.template, ver),
        f"level={level}/{ver.review_levels}" + (f"; accepted={sorted(accepted_rules)}" if accepted_rules else ""),
    )
    return Change(ver)


def reject(
    session: Session, actor: Actor, ver: TemplateVersion, comment: str, *, now: dt.datetime | None = None
) -> Change:
    """Reject ``ver`` with a comment saying why; the author writes a new version."""
    _expect(ver, TemplateStatus.IN_REVIEW, "只有待审核的版本可以退回")
    _may_review(ver, actor)
    if not comment.strip():
        raise LibraryError("退回须填写意见")
    session.add(
        TemplateReview(
            version_id=ver.id,
            level=_approvals(ver) + 1,
            reviewer=actor.name,
            decision=ReviewDecision.REJECT,
            comment=comment.strip(),
            created_at=now or utcnow(),
        )
    )
    ver.status = TemplateStatus.REJECTED
    session.flush()
    session.expire(ver, ["reviews"])
    _audit(session, actor, "template.reject", _target(ver.template, ver), comment.strip()[:500])
    return Change(ver)


def publish(session: Session, actor: Actor, ver: TemplateVersion, *, now: dt.datetime | None = None) -> Change:
    """Make ``ver`` the text the bot sends; the version published before is retired.

    An approved version, or a retired one that was published before (a rollback). The checks run
    again: a rule added since the approval still stops the text.
    """
    if ver.status is TemplateStatus.RETIRED and ver.published_at is None:
        raise WrongState("该版本从未发布过，不能回滚到它")
    if ver.status not in (TemplateStatus.APPROVED, TemplateStatus.RETIRED):
        raise WrongState("只有已审核通过的版本（或曾发布过的版本）可以发布")
    live = older_than_live(session, ver)
    if live is not None:
        raise WrongState(
            f"第{ver.version}版早于正在发布的第{live.version}版，不能覆盖较新的文本；"
            "如需恢复旧文本，请以它为底稿撰写新版本并送审"
        )
    problems = unaccepted(ver, check(ver.body))
    if problems:
        raise NotAllowed("发布前复核未通过：" + "；".join(p["message"] for p in problems))
    now = now or utcnow()
    rollback = ver.status is TemplateStatus.RETIRED
    current = published_version(session, ver.template)
    if current is not None:
        current.status = TemplateStatus.RETIRED
        current.retired_at = now
        session.flush()  # one published version per template, at every moment
    ver.status = TemplateStatus.PUBLISHED
    ver.published_at = now
    ver.published_by = actor.name
    ver.retired_at = None
    session.flush()
    action = "template.rollback" if rollback else "template.publish"
    detail = f"replaces v{current.version}" if current is not None else "first version"
    _audit(session, actor, action, _target(ver.template, ver), detail)
    return Change(ver, library_changed=True)


def retire(session: Session, actor: Actor, ver: TemplateVersion, *, now: dt.datetime | None = None) -> Change:
    """Stop sending ``ver`` (the template then falls back to the safe fallback until a new version is published)."""
    if ver.status not in (TemplateStatus.PUBLISHED, TemplateStatus.APPROVED):
        raise WrongState("只有已发布或已审核通过的版本可以停用")
    changed = ver.status is TemplateStatus.PUBLISHED
    ver.status = TemplateStatus.RETIRED
    ver.retired_at = now or utcnow()
    session.flush()
    _audit(session, actor, "template.retire", _target(ver.template, ver))
    return Change(ver, library_changed=changed)


def set_template_enabled(session: Session, actor: Actor, key: str, enabled: bool, reason: str) -> Change:
    """The kill switch of one template: when off, the bot sends the safe fallback in its place."""
    if not reason.strip():
        raise LibraryError("启用或停用模板须填写理由")
    tpl = template(session, key)
    if tpl.purpose == "fallback" and not enabled:
        raise NotAllowed("安全兜底回复不能停用：它是所有回复失败时的最后一道保障")
    tpl.is_enabled = enabled
    session.flush()
    _audit(session, actor, "template.enable" if enabled else "template.disable", key, reason.strip()[:500])
    return Change(None, library_changed=True)


def set_automatic_replies(session: Session, actor: Actor, enabled: bool, reason: str) -> Change:
    """The kill switch of the whole automatic layer: when off, every message gets the safe fallback."""
    if not reason.strip():
        raise LibraryError("使用总开关须填写理由")
    _put_setting(session, actor, AUTOMATIC_REPLIES, enabled)
    _audit(session, actor, "library.kill_switch", "automatic_replies", f"enabled={enabled}; {reason.strip()[:500]}")
    return Change(None, library_changed=True)


def set_review_levels(session: Session, actor: Actor, purpose: str, levels: int) -> Change:
    """How many review levels versions of ``purpose`` submitted from now on need (1 to 3)."""
    if not 1 <= levels <= MAX_REVIEW_LEVELS:
        raise LibraryError(f"审核级数须在1至{MAX_REVIEW_LEVELS}之间")
    _put_setting(session, actor, REVIEW_LEVELS_PREFIX + purpose, levels)
    _audit(session, actor, "library.review_levels", purpose, f"levels={levels}")
    return Change(None)


# -- checks ----------------------------------------------------------------------------------------


def check(body: str) -> list[dict[str, Any]]:
    """The checks' findings on a template body, as recorded on the version."""
    return [
        {"rule": v.rule, "span": list(v.span), "text": _span_text(body, v.span), "message": v.message}
        for v in guard.check_template(body)
    ]


def unaccepted(ver: TemplateVersion, found: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The findings among ``found`` that no reviewer accepted for ``ver``."""
    accepted = {o["rule"] for o in overrides(ver)}
    return [f for f in found if f["rule"] in NOT_OVERRIDABLE or f["rule"] not in accepted]


# -- helpers ---------------------------------------------------------------------------------------


def _span_text(body: str, span: Sequence[int]) -> str:
    return body[span[0] : span[1]][:80]


def _clean_triggers(items: Sequence[str]) -> list[str]:
    seen: list[str] = []
    for item in items:
        text = item.strip()
        if text and text not in seen:
            if len(text) > 200:
                raise LibraryError("每个关键词或问题不超过200字")
            seen.append(text)
    return seen


def _expect(ver: TemplateVersion, status: TemplateStatus, message: str) -> None:
    if ver.status is not status:
        raise WrongState(f"{message}（当前状态：{STATUS_NAMES[ver.status]}）")


def _clean_title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise LibraryError("请填写模板名称（中文，工作人员据此识别模板）")
    if len(title) > 80:
        raise LibraryError("模板名称不超过80字")
    return title


def _this_round(ver: TemplateVersion) -> list[TemplateReview]:
    """The reviews of the current submission: a withdrawn and resubmitted version starts again at level 1."""
    if ver.submitted_at is None:
        return []
    return [r for r in ver.reviews if r.created_at >= ver.submitted_at]


def _approvals(ver: TemplateVersion) -> int:
    return sum(1 for r in _this_round(ver) if r.decision is ReviewDecision.APPROVE)


def approvals(ver: TemplateVersion) -> int:
    """How many levels of the current submission of ``ver`` are approved."""
    return _approvals(ver)


def accepted_findings(ver: TemplateVersion) -> set[int]:
    """Positions in :func:`findings` that reviewers of ``ver`` have accepted already (no reason asked again)."""
    recorded = overrides(ver)
    return {i for i, finding in enumerate(findings(ver)) if _covered(recorded, i, finding)}


def _covered(recorded: list[dict[str, Any]], index: int, finding: dict[str, Any]) -> bool:
    """Whether a reviewer at an earlier level already accepted this finding (overrides before
    per-finding reasons carry no index and cover every finding of their rule)."""
    return any(o["rule"] == finding["rule"] and o.get("index", index) == index for o in recorded)


def _may_review(ver: TemplateVersion, actor: Actor) -> None:
    if actor.name == ver.author:
        raise NotAllowed("不能审核自己撰写的版本")
    if any(r.reviewer == actor.name for r in _this_round(ver)):
        raise NotAllowed("同一版本的各级审核须由不同的人完成")


def _put_setting(session: Session, actor: Actor, key: str, value: Any) -> None:
    setting = session.get(Setting, key)
    if setting is None:
        setting = Setting(key=key, value="", updated_by=actor.name)
        session.add(setting)
    setting.value = json.dumps(value)
    setting.updated_by = actor.name
    setting.updated_at = utcnow()
    session.flush()


def _target(tpl: ReplyTemplate, ver: TemplateVersion) -> str:
    return f"{tpl.key}@{ver.version}"


def _audit(session: Session, actor: Actor, action: str, target: str, detail: str = "") -> None:
    session.add(AuditEntry(actor=actor.name, action=action, target=target, detail=detail, source=actor.source))


STATUS_NAMES = {
    TemplateStatus.DRAFT: "草稿",
    TemplateStatus.IN_REVIEW: "待审核",
    TemplateStatus.APPROVED: "已通过",
    TemplateStatus.PUBLISHED: "已发布",
    TemplateStatus.RETIRED: "已停用",
    TemplateStatus.REJECTED: "已退回",
}
