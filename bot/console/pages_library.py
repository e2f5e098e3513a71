"""Library pages: list and search, editor with live checks, a template's live text, versions, kill switches.

The review side (queue, submit, withdraw, approve, reject, an author's own versions) is in pages_review.

Views are thin: load or 404 → permission (declared, checked before the view) → one call into
replies.workflow, which enforces the rules (an author never approves their own version) → commit →
tell the workers the library changed → redirect.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from flask import abort, current_app, flash, g, jsonify, make_response, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from bot.bootstrap import bump_generation
from bot.console.auth import permission
from bot.console.blueprint import bp
from bot.console.names import PURPOSES, audit_detail
from bot.extensions import console_session
from models import AuditEntry, ReplyTemplate, TemplateStatus, TemplateVersion
from replies import authoring, guard, workflow
from replies.library import guard_preview
from replies.workflow import STATUS_NAMES, Actor, Change, LibraryError
from text.script import to_traditional

# What each purpose is for, on the review-levels page (a reviewer sets levels by what a text does).
PURPOSE_NOTES = {
    "follow": "群众关注公众号时自动发送",
    "default": "无法登记为诉求的留言的自动回复",
    "intake": "引导群众补充诉求信息的提问",
    "acknowledgement": "诉求登记后的受理回执",
    "answer": "工作人员在诉求页面选择、发送给群众的答复（诉求答复）",
    "faq": "按群众提问自动答复，也可由工作人员在诉求页面选用",
    "keyword": "按关键词自动答复",
    "status": "群众查询办理进度时的答复",
    "closing": "诉求办结时的通知",
    "survey": "满意度评价的邀请和致谢",
    "emergency": "紧急情况时列出紧急电话",
    "fallback": "其他回复无法安全发送时的兜底文本",
    "notice": "非工作时间等提示",
    "thanks": "群众表扬时的致谢",
}


def actor() -> Actor:
    """The signed-in person and their address, for the audit log."""
    return Actor(g.user.username, (request.remote_addr or "")[:64])


def template_or_404(key: str) -> ReplyTemplate:
    """The template ``key``, or a 404 page."""
    tpl = console_session().scalar(select(ReplyTemplate).where(ReplyTemplate.key == key))
    if tpl is None:
        abort(404)
    return tpl


def version_or_404(tpl: ReplyTemplate, number: int) -> TemplateVersion:
    """Version ``number`` of ``tpl``, or a 404 page."""
    ver = next((v for v in tpl.versions if v.version == number), None)
    if ver is None:
        abort(404)
    return ver


def act(do: Callable[[], Change | None], success: str, back: str) -> Response:
    """Run one workflow step; commit and reload the workers' library when it changed; flash the outcome."""
    db = console_session()
    try:
        change = do()
    except LibraryError as exc:
        db.rollback()
        flash(str(exc), "error")
        return redirect(back)
    db.commit()
    if change is not None and change.library_changed:
        bump_generation(current_app._get_current_object())  # type: ignore[attr-defined]
    flash(success)
    return redirect(back)


# -- lists ----------------------------------------------------------------------------------------


@bp.get("/library")
@permission("library.read")
def library() -> str:
    """Every template with its published version and what waits for review; filter by status and purpose.

    ``q`` searches titles, keys, descriptions and the live text and triggers (as WeChat's own keyword
    pages do): what a citizen reads is how staff remember a reply.
    """
    db = console_session()
    status = request.args.get("status", "")
    purpose = request.args.get("purpose", "")
    q = request.args.get("q", "").strip()[:100]
    if status and status != "disabled" and status not in {s.value for s in TemplateStatus}:
        abort(400)
    query = select(ReplyTemplate).order_by(ReplyTemplate.purpose, ReplyTemplate.key)
    if purpose:
        query = query.where(ReplyTemplate.purpose == purpose)
    rows = []
    for tpl in db.scalars(query):
        statuses = {v.status for v in tpl.versions}
        if status == "disabled":
            if tpl.is_enabled:
                continue
        elif status and TemplateStatus(status) not in statuses:
            continue
        published = next((v for v in tpl.versions if v.status is TemplateStatus.PUBLISHED), None)
        if q and not _matches(q, tpl, published):
            continue
        rows.append(
            {
                "tpl": tpl,
                "published": published,
                "latest": tpl.versions[-1] if tpl.versions else None,
                "in_review": [v for v in tpl.versions if v.status is TemplateStatus.IN_REVIEW],
            }
        )
    return render_template(
        "console/library.html",
        rows=rows,
        status=status,
        purpose=purpose,
        q=q,
        purposes=PURPOSES,
        statuses=STATUS_NAMES,
        automatic=workflow.automatic_replies_enabled(db),
    )


def _matches(q: str, tpl: ReplyTemplate, published: TemplateVersion | None) -> bool:
    """Whether every word of ``q`` is in the template's title, key, description, live text or triggers."""
    haystack = [tpl.key, tpl.title or "", tpl.description]
    if published is not None:
        haystack += [published.body, *workflow.triggers(published)]
    text = "\n".join(haystack).casefold()
    return all(word in text for word in q.casefold().split())


# -- writing --------------------------------------------------------------------------------------


@bp.route("/library/new", methods=["GET", "POST"])
@permission("library.draft")
def library_new() -> Response | str:
    """A new template and its first draft."""
    if request.method == "GET":
        # Prefilled from 常见问题缺口 (pages_gaps.py): purpose, title, description and example questions as triggers.
        args = request.args
        prefill = {k: args.get(k, "")[:200] for k in ("title", "purpose", "description")} if args else None
        triggers = "\n".join(line[:200] for line in args.get("triggers", "").splitlines()[:10])
        return render_template(
            "console/edit.html", tpl=None, body="", triggers=triggers, match_mode="", purposes=PURPOSES, form=prefill
        )
    form = request.form

    def create() -> str:
        if form.get("purpose", "") not in PURPOSES:
            raise LibraryError("请选择模板用途")
        return workflow.create_template(
            console_session(),
            actor(),
            form.get("key", ""),
            form.get("purpose", ""),
            # The console names every template: staff find replies by title, never by key.
            title=form.get("title", ""),
            description=form.get("description", ""),
            scope_intent=form.get("scope_intent") or None,
            scope_department=form.get("scope_department") or None,
        ).key

    return _save_draft(None, create)


@bp.route("/library/<key>/edit", methods=["GET", "POST"])
@permission("library.draft")
def library_edit(key: str) -> Response | str:
    """A new version of an existing template (versions are never edited in place)."""
    tpl = template_or_404(key)
    if request.method == "GET":
        # The live text unless the author picks another version explicitly (``from``), and the page says which.
        chosen = request.args.get("from", "").isdigit()
        source = version_or_404(tpl, int(request.args["from"])) if chosen else authoring.starting_point(tpl)
        latest = tpl.versions[-1] if tpl.versions else None
        return render_template(
            "console/edit.html",
            tpl=tpl,
            purposes=PURPOSES,
            source=source,
            chosen=chosen,
            latest=latest,
            latest_rejection=authoring.rejection(latest) if latest is not None else None,
            newer=[v for v in tpl.versions if source is not None and v.version > source.version],
            body=source.body if source else "",
            triggers="\n".join(workflow.triggers(source)) if source else "",
            match_mode=(source.match_mode or "") if source else "",
        )
    return _save_draft(tpl, lambda: key)


def _save_draft(tpl: ReplyTemplate | None, template_key: Callable[[], str]) -> Response | str:
    """Write the posted text as a new draft of the template ``template_key()`` names (and submit it if asked)."""
    form = request.form
    db = console_session()
    try:
        key = template_key()
        ver = workflow.draft(
            db,
            actor(),
            key,
            form.get("body", ""),
            trigger_list=form.get("triggers", "").splitlines(),
            match_mode=form.get("match_mode") or None,
        )
        if form.get("submit_now"):
            workflow.submit(db, actor(), ver)
    except LibraryError as exc:
        db.rollback()
        flash(str(exc), "error")
        page = render_template(
            "console/edit.html",
            tpl=tpl,
            purposes=PURPOSES,
            source=None,
            body=form.get("body", ""),
            triggers=form.get("triggers", ""),
            match_mode=form.get("match_mode", ""),
            form=form,
        )
        return make_response(page, 400)
    db.commit()
    flash(("草稿已保存" if tpl is None else "新版本已保存") + ("并提交审核" if form.get("submit_now") else "") + "。")
    if form.get("submit_now"):
        warn_pending(ver)
    return redirect(url_for("console.version", key=key, number=ver.version))


def warn_pending(ver: TemplateVersion) -> None:
    """Flash a warning when another version of the same template also waits for review."""
    others = [v.version for v in authoring.pending_versions(ver.template) if v.id != ver.id]
    if others:
        listed = "、".join(f"第{n}版" for n in others)
        flash(
            f"注意：本模板的{listed}也在待审核。两版都通过后只能发布较新的一版；如旧版已不需要，请撤回它。",
            "error",  # shown like an error so it is not read past as a success message
        )


@bp.post("/library/check")
@permission("library.draft")
def library_check() -> Response:
    """The checks' findings and the citizen's view of a body being typed (JSON, for the editor)."""
    payload = request.get_json(silent=True) or {}
    body = payload.get("body", "")
    if not isinstance(body, str) or len(body) > 20000:
        return jsonify({"error": "body must be text"}), 400  # type: ignore[return-value]
    return jsonify({"findings": workflow.check(body), **_previews(body)})


# -- one template, one version -------------------------------------------------------------------


@bp.get("/library/<key>")
@permission("library.read")
def template(key: str) -> str:
    """A template: the text citizens get now and what triggers it, its versions (newest first), its history."""
    tpl = template_or_404(key)
    history = (
        console_session()
        .scalars(
            select(AuditEntry)
            .where((AuditEntry.target == key) | AuditEntry.target.startswith(f"{key}@", autoescape=True))
            .order_by(AuditEntry.id.desc())
            .limit(200)
        )
        .all()
    )
    live = workflow.published_version(console_session(), tpl)
    return render_template(
        "console/template.html",
        tpl=tpl,
        live=live,
        live_triggers=workflow.triggers(live) if live is not None else [],
        pending=authoring.pending_versions(tpl),
        history=[(e, _history_detail(e)) for e in history],
        statuses=STATUS_NAMES,
        purposes=PURPOSES,
    )


def _history_detail(entry: AuditEntry) -> str:
    """An audit detail in Chinese (publish details were written in English before: "replaces v2")."""
    detail = entry.detail or ""
    if entry.action in ("template.publish", "template.rollback"):
        if detail == "first version":
            return "首次发布"
        if detail.startswith("replaces v") and detail[10:].isdigit():
            return f"替换第{detail[10:]}版"
    if entry.action == "template.withdraw":
        detail = detail.split("; overrides=")[0]
    return audit_detail(entry.action, detail)


@bp.post("/library/<key>/title")
@permission("library.draft")
def template_title(key: str) -> Response:
    """Rename a template for staff (a label, not citizen text: audited, not reviewed)."""
    template_or_404(key)
    return act(
        lambda: workflow.set_title(console_session(), actor(), key, request.form.get("title", "")),
        "模板名称已更新。",
        url_for("console.template", key=key),
    )


@bp.get("/library/<key>/v/<int:number>")
@permission("library.read")
def version(key: str, number: int) -> str:
    """One version: text, findings, reviews, diff against the published text, preview in both scripts."""
    tpl = template_or_404(key)
    ver = version_or_404(tpl, number)
    db = console_session()
    published = workflow.published_version(db, tpl)
    against = published if published is not None and published.id != ver.id else _previous(tpl, ver)
    return render_template(
        "console/version.html",
        tpl=tpl,
        ver=ver,
        statuses=STATUS_NAMES,
        approvals=workflow.approvals(ver),
        pending_others=[v for v in authoring.pending_versions(tpl) if v.id != ver.id],
        older_than_live=workflow.older_than_live(db, ver),
        rejection=authoring.rejection(ver),
        against=against,
        diff=_diff(against.body if against else "", ver.body),
        findings=workflow.findings(ver),
        accepted=workflow.accepted_findings(ver),
        live_findings=workflow.check(ver.body),
        overrides=workflow.overrides(ver),
        triggers=workflow.triggers(ver),
        not_overridable=workflow.NOT_OVERRIDABLE,
        **_previews(ver.body),
    )


def _previous(tpl: ReplyTemplate, ver: TemplateVersion) -> TemplateVersion | None:
    earlier = [v for v in tpl.versions if v.version < ver.version]
    return earlier[-1] if earlier else None


def _previews(body: str) -> dict[str, Any]:
    text = guard_preview(body)
    return {
        "preview": text,
        "preview_traditional": to_traditional(text),
        "bytes": len(text.encode("utf-8")),
        "max_bytes": guard.MAX_REPLY_BYTES,
    }


def _diff(old: str, new: str) -> list[tuple[str, str]]:
    """Character-level diff as (op, text) pairs: op is '=', '+' or '-' (Chinese has no word spaces)."""
    out: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            out.append(("=", new[b0:b1]))
        else:
            if a1 > a0:
                out.append(("-", old[a0:a1]))
            if b1 > b0:
                out.append(("+", new[b0:b1]))
    return out


def version_url(key: str, number: int) -> str:
    """The page of version ``number`` of ``key`` (where a version's actions return to)."""
    return url_for("console.version", key=key, number=number)


@bp.post("/library/<key>/v/<int:number>/publish")
@permission("library.publish")
def version_publish(key: str, number: int) -> Response:
    """Publish an approved version, or roll back to one published before."""
    ver = version_or_404(template_or_404(key), number)
    return act(
        lambda: workflow.publish(console_session(), actor(), ver), f"第{number}版已发布。", version_url(key, number)
    )


@bp.post("/library/<key>/v/<int:number>/retire")
@permission("library.publish")
def version_retire(key: str, number: int) -> Response:
    """Stop sending a version (the safe fallback replaces it until another is published)."""
    ver = version_or_404(template_or_404(key), number)
    return act(
        lambda: workflow.retire(console_session(), actor(), ver), f"第{number}版已停用。", version_url(key, number)
    )


@bp.post("/library/<key>/switch")
@permission("library.kill_switch")
def template_switch(key: str) -> Response:
    """The kill switch of one template."""
    template_or_404(key)
    enabled = request.form.get("enabled") == "1"
    return act(
        lambda: workflow.set_template_enabled(console_session(), actor(), key, enabled, request.form.get("reason", "")),
        "模板已启用。" if enabled else "模板已停用，将发送安全兜底回复。",
        url_for("console.template", key=key),
    )


@bp.post("/library/switch")
@permission("library.kill_switch")
def library_switch() -> Response:
    """The kill switch of the whole automatic layer."""
    enabled = request.form.get("enabled") == "1"
    return act(
        lambda: workflow.set_automatic_replies(console_session(), actor(), enabled, request.form.get("reason", "")),
        "自动回复已恢复。" if enabled else "自动回复已全部停止：所有消息只发送安全兜底回复。",
        url_for("console.library"),
    )


@bp.route("/library/settings", methods=["GET", "POST"])
@permission("library.settings")
def library_settings() -> Response | str:
    """Review levels (一审 to 三审) per purpose."""
    db = console_session()
    if request.method == "POST":
        purpose = request.form.get("purpose", "")
        levels = request.form.get("levels", "")
        if purpose not in PURPOSES or not levels.isdigit():
            abort(400)
        return act(
            lambda: workflow.set_review_levels(db, actor(), purpose, int(levels)),
            "审核级数已更新。",
            url_for("console.library_settings"),
        )
    current = {p: workflow.review_levels(db, p) for p in PURPOSES}
    return render_template("console/library_settings.html", purposes=PURPOSES, notes=PURPOSE_NOTES, levels=current)
