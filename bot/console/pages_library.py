"""Library pages: list, editor with live checks, versions with diff and preview, review queue, kill switches.

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
from bot.extensions import console_session
from models import ReplyTemplate, TemplateStatus, TemplateVersion
from replies import guard, workflow
from replies.library import guard_preview
from replies.workflow import STATUS_NAMES, Actor, Change, LibraryError
from text.script import to_traditional

PURPOSES = {
    "follow": "关注回复",
    "default": "默认回复",
    "intake": "信息采集",
    "acknowledgement": "受理回执",
    "faq": "常见问题",
    "keyword": "关键词回复",
    "status": "进度查询",
    "thanks": "致谢",
    "closing": "办结通知",
    "survey": "满意度评价",
    "notice": "通知",
    "emergency": "紧急情况",
    "fallback": "安全兜底",
}


def _actor() -> Actor:
    return Actor(g.user.username, (request.remote_addr or "")[:64])


def _template_or_404(key: str) -> ReplyTemplate:
    tpl = console_session().scalar(select(ReplyTemplate).where(ReplyTemplate.key == key))
    if tpl is None:
        abort(404)
    return tpl


def _version_or_404(tpl: ReplyTemplate, number: int) -> TemplateVersion:
    ver = next((v for v in tpl.versions if v.version == number), None)
    if ver is None:
        abort(404)
    return ver


def _act(do: Callable[[], Change | None], success: str, back: str) -> Response:
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
    """Every template with its published version and what waits for review; filter by status and purpose."""
    db = console_session()
    status = request.args.get("status", "")
    purpose = request.args.get("purpose", "")
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
        purposes=PURPOSES,
        statuses=STATUS_NAMES,
        automatic=workflow.automatic_replies_enabled(db),
    )


@bp.get("/review")
@permission("library.review")
def review_queue() -> str:
    """Versions waiting for review, oldest first; the reviewer's own drafts are shown but cannot be approved."""
    db = console_session()
    versions = db.scalars(
        select(TemplateVersion)
        .where(TemplateVersion.status == TemplateStatus.IN_REVIEW)
        .order_by(TemplateVersion.submitted_at)
    ).all()
    findings = {v.id: workflow.findings(v) for v in versions}
    return render_template("console/review.html", versions=versions, findings=findings)


# -- writing --------------------------------------------------------------------------------------


@bp.route("/library/new", methods=["GET", "POST"])
@permission("library.draft")
def library_new() -> Response | str:
    """A new template and its first draft."""
    if request.method == "GET":
        return render_template("console/edit.html", tpl=None, body="", triggers="", match_mode="", purposes=PURPOSES)
    form = request.form

    def create() -> str:
        return workflow.create_template(
            console_session(),
            _actor(),
            form.get("key", ""),
            form.get("purpose", ""),
            description=form.get("description", ""),
            scope_intent=form.get("scope_intent") or None,
            scope_department=form.get("scope_department") or None,
        ).key

    return _save_draft(None, create)


@bp.route("/library/<key>/edit", methods=["GET", "POST"])
@permission("library.draft")
def library_edit(key: str) -> Response | str:
    """A new version of an existing template (versions are never edited in place)."""
    tpl = _template_or_404(key)
    if request.method == "GET":
        source = tpl.versions[-1] if tpl.versions else None
        if request.args.get("from", "").isdigit():
            source = _version_or_404(tpl, int(request.args["from"]))
        return render_template(
            "console/edit.html",
            tpl=tpl,
            purposes=PURPOSES,
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
            _actor(),
            key,
            form.get("body", ""),
            trigger_list=form.get("triggers", "").splitlines(),
            match_mode=form.get("match_mode") or None,
        )
        if form.get("submit_now"):
            workflow.submit(db, _actor(), ver)
    except LibraryError as exc:
        db.rollback()
        flash(str(exc), "error")
        page = render_template(
            "console/edit.html",
            tpl=tpl,
            purposes=PURPOSES,
            body=form.get("body", ""),
            triggers=form.get("triggers", ""),
            match_mode=form.get("match_mode", ""),
            form=form,
        )
        return make_response(page, 400)
    db.commit()
    flash(("草稿已保存" if tpl is None else "新版本已保存") + ("并提交审核" if form.get("submit_now") else "") + "。")
    return redirect(url_for("console.version", key=key, number=ver.version))


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
    """A template: its versions (newest first) and its history."""
    from models import AuditEntry

    tpl = _template_or_404(key)
    history = (
        console_session()
        .scalars(
            select(AuditEntry)
            .where((AuditEntry.target == key) | AuditEntry.target.like(f"{key}@%"))
            .order_by(AuditEntry.id.desc())
            .limit(200)
        )
        .all()
    )
    return render_template("console/template.html", tpl=tpl, history=history, statuses=STATUS_NAMES, purposes=PURPOSES)


@bp.get("/library/<key>/v/<int:number>")
@permission("library.read")
def version(key: str, number: int) -> str:
    """One version: text, findings, reviews, diff against the published text, preview in both scripts."""
    tpl = _template_or_404(key)
    ver = _version_or_404(tpl, number)
    published = workflow.published_version(console_session(), tpl)
    against = published if published is not None and published.id != ver.id else _previous(tpl, ver)
    return render_template(
        "console/version.html",
        tpl=tpl,
        ver=ver,
        statuses=STATUS_NAMES,
        against=against,
        diff=_diff(against.body if against else "", ver.body),
        findings=workflow.findings(ver),
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


def _back(key: str, number: int) -> str:
    return url_for("console.version", key=key, number=number)


@bp.post("/library/<key>/v/<int:number>/submit")
@permission("library.draft")
def version_submit(key: str, number: int) -> Response:
    """Send a draft to review (its author only — enforced by the workflow)."""
    ver = _version_or_404(_template_or_404(key), number)
    return _act(lambda: workflow.submit(console_session(), _actor(), ver), "已提交审核。", _back(key, number))


@bp.post("/library/<key>/v/<int:number>/approve")
@permission("library.review")
def version_approve(key: str, number: int) -> Response:
    """Approve at the next level; findings need a reason each (``accept_<rule>`` fields)."""
    ver = _version_or_404(_template_or_404(key), number)
    accept = {
        name.removeprefix("accept_"): value
        for name, value in request.form.items()
        if name.startswith("accept_") and value.strip()
    }
    return _act(
        lambda: workflow.approve(
            console_session(), _actor(), ver, comment=request.form.get("comment", ""), accept=accept
        ),
        "审核意见已记录。",
        _back(key, number),
    )


@bp.post("/library/<key>/v/<int:number>/reject")
@permission("library.review")
def version_reject(key: str, number: int) -> Response:
    """Reject with a comment."""
    ver = _version_or_404(_template_or_404(key), number)
    return _act(
        lambda: workflow.reject(console_session(), _actor(), ver, request.form.get("comment", "")),
        "已退回。",
        _back(key, number),
    )


@bp.post("/library/<key>/v/<int:number>/publish")
@permission("library.publish")
def version_publish(key: str, number: int) -> Response:
    """Publish an approved version, or roll back to one published before."""
    ver = _version_or_404(_template_or_404(key), number)
    return _act(lambda: workflow.publish(console_session(), _actor(), ver), f"第{number}版已发布。", _back(key, number))


@bp.post("/library/<key>/v/<int:number>/retire")
@permission("library.publish")
def version_retire(key: str, number: int) -> Response:
    """Stop sending a version (the safe fallback replaces it until another is published)."""
    ver = _version_or_404(_template_or_404(key), number)
    return _act(lambda: workflow.retire(console_session(), _actor(), ver), f"第{number}版已停用。", _back(key, number))


@bp.post("/library/<key>/switch")
@permission("library.kill_switch")
def template_switch(key: str) -> Response:
    """The kill switch of one template."""
    _template_or_404(key)
    enabled = request.form.get("enabled") == "1"
    return _act(
        lambda: workflow.set_template_enabled(
            console_session(), _actor(), key, enabled, request.form.get("reason", "")
        ),
        "模板已启用。" if enabled else "模板已停用，将发送安全兜底回复。",
        url_for("console.template", key=key),
    )


@bp.post("/library/switch")
@permission("library.kill_switch")
def library_switch() -> Response:
    """The kill switch of the whole automatic layer."""
    enabled = request.form.get("enabled") == "1"
    return _act(
        lambda: workflow.set_automatic_replies(console_session(), _actor(), enabled, request.form.get("reason", "")),
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
        return _act(
            lambda: workflow.set_review_levels(db, _actor(), purpose, int(levels)),
            "审核级数已更新。",
            url_for("console.library_settings"),
        )
    current = {p: workflow.review_levels(db, p) for p in PURPOSES}
    return render_template("console/library_settings.html", purposes=PURPOSES, levels=current)
