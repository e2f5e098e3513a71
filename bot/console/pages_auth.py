"""Sign-in, sign-out and the console's home page."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, session, url_for
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from bot.console.audit import record
from bot.console.auth import allowed, clear_failures, locked_out, now, permission, record_failure, verify
from bot.console.blueprint import bp
from bot.extensions import console_session
from models import Alert, Case, TemplateStatus, TemplateVersion


def _source() -> str:
    return (request.remote_addr or "")[:64]


def _safe_next(target: str | None) -> str:
    # Only paths inside the console: an open redirect would make the sign-in page a phishing tool.
    if target and target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("console.home")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    """The sign-in form; throttled per username and per address, every attempt audited."""
    if request.method == "GET":
        if g.user is not None:
            return redirect(url_for("console.home"))
        return render_template("console/login.html", next=request.args.get("next", ""))
    username = request.form.get("username", "").strip()[:80]
    password = request.form.get("password", "")
    db = console_session()
    if locked_out(username, _source()):
        record(db, username or "-", "login.blocked", username, "锁定期间的登录尝试", _source())
        db.commit()
        return render_template("console/login.html", error="登录失败次数过多，请15分钟后再试。", next=""), 429
    user = verify(db, username, password)
    if user is None:
        locked = record_failure(username, _source())
        record(db, username or "-", "login.failed", username, "", _source())
        if locked:
            record(db, username or "-", "login.locked", username, locked, _source())
        db.commit()
        return render_template("console/login.html", error="用户名或密码错误。", next=request.form.get("next", "")), 401
    clear_failures(username, _source())
    user.last_login_at = now()
    record(db, user.username, "login", user.username, "", _source())
    db.commit()
    session.clear()
    session.regenerate()  # type: ignore[attr-defined]
    session["user"] = user.username
    session["stamp"] = user.password_changed_at.isoformat()
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
@permission("console.home")
def logout() -> Response:
    """End the session on the server, not just in this browser."""
    db = console_session()
    record(db, g.user.username, "logout", g.user.username, "", _source())
    db.commit()
    session.clear()
    flash("已退出登录。")
    return redirect(url_for("console.login"))


@bp.get("/")
@permission("console.home")
def home() -> str:
    """What needs attention: versions waiting for review, open alerts, cases waiting for triage."""
    db = console_session()
    waiting = db.scalar(select(func.count()).where(TemplateVersion.status == TemplateStatus.IN_REVIEW)) or 0
    alerts = db.scalars(select(Alert).where(Alert.is_resolved.is_(False)).order_by(Alert.id.desc()).limit(10)).all()
    triage = db.scalar(select(func.count()).where(Case.needs_triage.is_(True), Case.closed_at.is_(None))) or 0
    deadlines = {}
    if allowed(g.user, "cases.read"):
        from bot.console.pages_cases import counts

        deadlines = counts(now())
    return render_template("console/home.html", waiting=waiting, alerts=alerts, triage=triage, deadlines=deadlines)
