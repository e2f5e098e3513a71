"""Review pages: the queue, submitting and withdrawing, approving and rejecting, and an author's own versions.

An author learns what became of their versions without asking: "我的版本" lists drafts, versions
waiting, rejected ones with the reviewer's reason and approved ones not yet published; the home page
names decisions since the author last acknowledged them. That moment is a per-user entry in the
``settings`` table (``review_seen.<username>``, a JSON timestamp): no new table or column, and a
decision is announced exactly once whichever page or device the author uses. Notices older than
:data:`NOTICE_DAYS` are not shown even if never acknowledged (the list page keeps them).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import g, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from bot.console.auth import allowed, permission
from bot.console.blueprint import bp
from bot.console.pages_library import act, actor, template_or_404, version_or_404, version_url, warn_pending
from bot.extensions import console_session
from models import Setting, TemplateStatus, TemplateVersion, utcnow
from replies import authoring, workflow

NOTICE_DAYS = 7
SEEN_PREFIX = "review_seen."


@bp.get("/review")
@permission("library.review")
def review_queue() -> str:
    """Versions waiting for review, oldest first; the reviewer's own are shown but cannot be approved."""
    db = console_session()
    versions = db.scalars(
        select(TemplateVersion)
        .where(TemplateVersion.status == TemplateStatus.IN_REVIEW)
        .order_by(TemplateVersion.submitted_at)
    ).all()
    findings = {v.id: workflow.findings(v) for v in versions}
    # Two versions of one template waiting side by side: only the newer can be published once both pass.
    siblings = {v.id: [o.version for o in authoring.pending_versions(v.template) if o.id != v.id] for v in versions}
    return render_template(
        "console/review.html",
        versions=versions,
        findings=findings,
        siblings=siblings,
        approvals={v.id: workflow.approvals(v) for v in versions},
    )


@bp.post("/library/<key>/v/<int:number>/submit")
@permission("library.draft")
def version_submit(key: str, number: int) -> Response:
    """Send a draft to review (its author only — enforced by the workflow)."""
    ver = version_or_404(template_or_404(key), number)
    response = act(lambda: workflow.submit(console_session(), actor(), ver), "已提交审核。", version_url(key, number))
    if ver.status is TemplateStatus.IN_REVIEW:
        warn_pending(ver)
    return response


@bp.post("/library/<key>/v/<int:number>/withdraw")
@permission("library.draft")
def version_withdraw(key: str, number: int) -> Response:
    """Take a version back from review (its author only): it is a draft again."""
    ver = version_or_404(template_or_404(key), number)
    return act(
        lambda: workflow.withdraw(console_session(), actor(), ver),
        f"第{number}版已撤回，现为草稿；可修改后另存新版本，或直接重新提交审核。",
        version_url(key, number),
    )


@bp.post("/library/<key>/v/<int:number>/approve")
@permission("library.review")
def version_approve(key: str, number: int) -> Response:
    """Approve at the next level; every finding needs its own reason (``accept_<n>``, n its position)."""
    ver = version_or_404(template_or_404(key), number)
    reasons: dict[int, str] = {}
    accept: dict[str, str] = {}
    for name, value in request.form.items():
        if not name.startswith("accept_") or not value.strip():
            continue
        suffix = name.removeprefix("accept_")
        if suffix.isdigit():
            reasons[int(suffix)] = value
        else:
            accept[suffix] = value  # a form rendered before findings were numbered: one reason per rule
    return act(
        lambda: workflow.approve(
            console_session(), actor(), ver, comment=request.form.get("comment", ""), accept=accept, reasons=reasons
        ),
        "审核意见已记录。",
        version_url(key, number),
    )


@bp.post("/library/<key>/v/<int:number>/reject")
@permission("library.review")
def version_reject(key: str, number: int) -> Response:
    """Reject with a comment (the author sees it on 我的版本 and on the home page)."""
    ver = version_or_404(template_or_404(key), number)
    return act(
        lambda: workflow.reject(console_session(), actor(), ver, request.form.get("comment", "")),
        "已退回，作者会在工作台和“我的版本”中看到退回意见。",
        version_url(key, number),
    )


# -- an author's own versions -------------------------------------------------------------------------


@bp.get("/my/versions")
@permission("library.draft")
def my_versions() -> str:
    """The signed-in author's versions that still need something: drafts, waiting, rejected, approved."""
    db = console_session()
    mine = db.scalars(
        select(TemplateVersion)
        .where(
            TemplateVersion.author == g.user.username,
            TemplateVersion.status.in_(
                [TemplateStatus.DRAFT, TemplateStatus.IN_REVIEW, TemplateStatus.REJECTED, TemplateStatus.APPROVED]
            ),
        )
        .order_by(TemplateVersion.created_at.desc())
    ).all()
    groups: dict[str, list[TemplateVersion]] = {s.value: [] for s in TemplateStatus}
    for ver in mine:
        groups[ver.status.value].append(ver)
    # A rejection superseded by a newer version of the same template is done with: it stays in the template's history.
    groups["rejected"] = [v for v in groups["rejected"] if v.template.versions[-1].id == v.id]
    return render_template(
        "console/my_versions.html",
        groups=groups,
        rejections={v.id: authoring.rejection(v) for v in groups["rejected"]},
        approvals={v.id: workflow.approvals(v) for v in groups["in_review"]},
        older_than_live={v.id: workflow.older_than_live(db, v) for v in groups["approved"]},
        notices=_notices(),
    )


@bp.post("/my/versions/seen")
@permission("library.draft")
def my_versions_seen() -> Response:
    """Acknowledge the decisions announced so far (they leave the home page; the list keeps them)."""
    db = console_session()
    key = _seen_key(g.user.username)
    setting = db.get(Setting, key)
    if setting is None:
        setting = Setting(key=key, value="", updated_by=g.user.username)
        db.add(setting)
    now = utcnow()
    setting.value = json.dumps(now.isoformat())
    setting.updated_at = now
    db.commit()
    return redirect(url_for("console.home" if request.form.get("back") == "home" else "console.my_versions"))


def _seen_key(username: str) -> str:
    return (SEEN_PREFIX + username)[:80]


def _notices() -> list[authoring.Decision]:
    """Decisions on the signed-in author's versions not yet acknowledged (at most NOTICE_DAYS old)."""
    user = g.get("user")
    if user is None or not allowed(user, "library.draft"):
        return []
    db = console_session()
    since = utcnow() - dt.timedelta(days=NOTICE_DAYS)
    setting = db.get(Setting, _seen_key(user.username))
    if setting is not None:
        since = max(since, dt.datetime.fromisoformat(json.loads(setting.value)))
    return authoring.decisions_for(db, user.username, since)


@bp.app_context_processor
def _review_globals() -> dict[str, Any]:
    # A function, not a value: only the pages that show notices (home, 我的版本) pay for the query.
    return {"review_notices": _notices}
