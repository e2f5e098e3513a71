"""The library as a reviewed text file, and imports that always go through review.

``export_library`` writes the published versions as TOML in the seed's format, so a unit can keep
its library under version control or move it to another installation. ``import_library`` and
``import_autoreply`` (the JSON of WeChat's ``get_current_autoreply_info``) never publish anything:
each text that differs from what is published becomes a new version, submitted for review by the
person who imported it, like any other draft. Only ``install_seed`` (init-db) skips review.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tomllib
from typing import Any

import tomli_w
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import ReplyTemplate, TemplateStatus, TemplateVersion
from replies import workflow
from replies.workflow import Actor, LibraryError

_HEADER = """\
# The reply library of minsheng, exported from the published versions.
# Importing this file (python -m bot library import) submits every changed text for review;
# nothing is published by an import.
"""


@dataclasses.dataclass
class ImportReport:
    """What an import did: versions submitted for review, entries left unchanged or skipped (with why)."""

    submitted: list[str] = dataclasses.field(default_factory=list)
    unchanged: list[str] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when at least one version went to review."""
        return bool(self.submitted)


def export_library(session: Session) -> str:
    """The published library as TOML (one ``[[template]]`` per template with a published version)."""
    rows = session.execute(
        select(ReplyTemplate, TemplateVersion)
        .join(TemplateVersion, TemplateVersion.template_id == ReplyTemplate.id)
        .where(TemplateVersion.status == TemplateStatus.PUBLISHED)
        .order_by(ReplyTemplate.key)
    ).all()
    items: list[dict[str, Any]] = []
    for tpl, ver in rows:
        item: dict[str, Any] = {"key": tpl.key, "purpose": tpl.purpose}
        if tpl.description:
            item["description"] = tpl.description
        for name in ("scope_intent", "scope_department", "scope_case_state"):
            if getattr(tpl, name):
                item[name] = getattr(tpl, name)
        if not tpl.is_enabled:
            item["enabled"] = False
        trig = workflow.triggers(ver)
        if trig:
            item["triggers"] = trig
        if ver.match_mode:
            item["match"] = ver.match_mode
        item["body"] = ver.body
        item["version"] = ver.version
        items.append(item)
    return _HEADER + "\n" + tomli_w.dumps({"template": items}, multiline_strings=True)


def import_library(session: Session, actor: Actor, text: str) -> ImportReport:
    """Submit every template of a TOML export whose text differs from what is published, for review."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LibraryError(f"文件不是有效的TOML：{exc}") from exc
    entries = data.get("template")
    if not isinstance(entries, list):
        raise LibraryError("文件中没有 [[template]] 条目")
    report = ImportReport()
    for n, item in enumerate(entries, 1):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not isinstance(item.get("body"), str):
            report.skipped.append(f"第{n}条：缺少 key 或 body")
            continue
        trig = item.get("triggers", [])
        if not isinstance(trig, list) or not all(isinstance(t, str) for t in trig):
            report.skipped.append(f"{item['key']}：triggers 须为字符串列表")
            continue
        _submit(
            session,
            actor,
            report,
            item["key"],
            str(item.get("purpose", "")),
            item["body"],
            trig,
            item.get("match"),
            str(item.get("description", "")),
        )
    return report


def import_autoreply(session: Session, actor: Actor, info: dict[str, Any]) -> ImportReport:
    """Turn the platform's built-in auto-replies (``get_current_autoreply_info``) into drafts under review.

    The follow reply becomes a new version of ``welcome``, the default reply of ``default``, and each
    keyword rule a ``keyword_…`` template with its keywords and match mode. Only text replies can be
    imported: pictures, voice, video and articles are reported as skipped.
    """
    report = ImportReport()
    follow = info.get("add_friend_autoreply_info") or {}
    if follow:
        _from_platform(session, actor, report, "welcome", "follow", follow, "关注后自动回复")
    default = info.get("message_default_autoreply_info") or {}
    if default:
        _from_platform(session, actor, report, "default", "default", default, "收到消息回复")
    rules = (info.get("keyword_autoreply_info") or {}).get("list") or []
    for rule in rules:
        name = str(rule.get("rule_name") or "")
        texts = [r.get("content", "") for r in rule.get("reply_list_info") or [] if r.get("type") == "text"]
        others = [r.get("type") for r in rule.get("reply_list_info") or [] if r.get("type") != "text"]
        if others:
            report.skipped.append(
                f"规则“{name}”：{'、'.join(sorted(set(map(str, others))))}类型的回复不能导入，只支持文字"
            )
        if not texts:
            continue
        by_mode: dict[str, list[str]] = {}
        for kw in rule.get("keyword_list_info") or []:
            mode = kw.get("match_mode") if kw.get("match_mode") in workflow.MATCH_MODES else "contain"
            by_mode.setdefault(mode, []).append(str(kw.get("content", "")))
        for mode, keywords in sorted(by_mode.items()):
            # One template per rule and match mode: the key is stable, so a re-import updates it.
            digest = hashlib.sha256(f"{name}|{mode}".encode()).hexdigest()[:10]
            key = f"keyword_{digest}"
            # WeChat's "reply_all" sends every reply; one message is one text here, so they are joined.
            body = "\n".join(t.strip() for t in texts if t.strip())
            _submit(
                session,
                actor,
                report,
                key,
                "keyword",
                body,
                keywords,
                mode,
                f"关键词回复（导入自公众平台规则“{name}”）",
            )
    return report


def _from_platform(
    session: Session, actor: Actor, report: ImportReport, key: str, purpose: str, reply: dict[str, Any], label: str
) -> None:
    if reply.get("type") != "text":
        report.skipped.append(f"{label}：{reply.get('type')}类型的回复不能导入，只支持文字")
        return
    _submit(session, actor, report, key, purpose, str(reply.get("content", "")), [], None, label)


def _submit(
    session: Session,
    actor: Actor,
    report: ImportReport,
    key: str,
    purpose: str,
    body: str,
    trig: list[str],
    match_mode: Any,
    description: str,
) -> None:
    body = body.replace("\r\n", "\n").strip()
    if not body:
        report.skipped.append(f"{key}：内容为空")
        return
    try:
        tpl = workflow.template(session, key)
    except workflow.NotFound:
        if not purpose:
            report.skipped.append(f"{key}：新模板须注明 purpose")
            return
        tpl = workflow.create_template(session, actor, key, purpose, description=description)
    current = workflow.published_version(session, tpl)
    if (
        current is not None
        and current.body == body
        and workflow.triggers(current) == trig
        and current.match_mode == (match_mode or None)
    ):
        report.unchanged.append(key)
        return
    try:
        ver = workflow.draft(session, actor, key, body, trigger_list=trig, match_mode=match_mode or None)
        workflow.submit(session, actor, ver)
    except LibraryError as exc:
        report.skipped.append(f"{key}：{exc}")
        return
    report.submitted.append(f"{key}@{ver.version}")
