"""Administration pages: the audit log, user accounts, and the try-it chat that talks to /wechat."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from bot.console.audit import record
from bot.console.auth import (
    AccountError,
    create_user,
    hash_password,
    locked_addresses,
    now,
    permission,
    role_choices,
    unlock,
)
from bot.console.blueprint import bp
from bot.console.common import local_tz
from bot.console.names import AUDIT_ACTIONS, AUDIT_FAMILIES, audit_detail, audit_target, message_label, template_titles
from bot.console.pages_conversations import _day
from bot.console.server_session import end_sessions_of
from bot.extensions import console_session
from models import ROLES, TRY_OPENID_PREFIX, AuditEntry, Citizen, Direction, Message, User
from replies.variables import DEPARTMENT_NAMES

AUDIT_PAGE = 100


def _source() -> str:
    return (request.remote_addr or "")[:64]


@bp.get("/audit")
@permission("audit.read")
def audit() -> str:
    """The audit log, newest first, filtered by who, what, target and dates."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    args = request.args
    if args.get("actor"):
        query = query.where(AuditEntry.actor == args["actor"].strip())
    if args.get("action"):
        query = query.where(AuditEntry.action.startswith(args["action"].strip()))
    if args.get("target"):
        query = query.where(AuditEntry.target.contains(args["target"].strip()[:100]))
    start, end = _day(args.get("from", ""), False), _day(args.get("to", ""), True)
    if start:
        query = query.where(AuditEntry.at >= start)
    if end:
        query = query.where(AuditEntry.at < end)
    page = max(1, args.get("page", 1, type=int) or 1)
    entries = console_session().scalars(query.limit(AUDIT_PAGE + 1).offset((page - 1) * AUDIT_PAGE)).all()
    titles = template_titles(console_session())
    return render_template(
        "console/audit.html",
        entries=entries[:AUDIT_PAGE],
        args=args,
        page=page,
        more=len(entries) > AUDIT_PAGE,
        tz=local_tz(),
        families=AUDIT_FAMILIES,
        actions=AUDIT_ACTIONS,
        detail=audit_detail,
        target=lambda t: audit_target(t, titles),
    )


# -- users ----------------------------------------------------------------------------------------


@bp.route("/users", methods=["GET", "POST"])
@permission("users.manage")
def users() -> Response | str:
    """Accounts and roles; create an account."""
    db = console_session()
    if request.method == "POST":
        try:
            create_user(
                db,
                request.form.get("username", ""),
                request.form.get("password", ""),
                request.form.getlist("roles"),
                by=g.user.username,
                display_name=request.form.get("display_name", ""),
            )
        except AccountError as exc:
            db.rollback()
            flash(str(exc), "error")
            return redirect(url_for("console.users"))
        db.commit()
        flash("账号已创建。")
        return redirect(url_for("console.users"))
    accounts = db.scalars(select(User).order_by(User.username)).all()
    return render_template(
        "console/users.html",
        users=accounts,
        locked=locked_addresses([u.username for u in accounts]),
        roles=role_choices(),
        departments=DEPARTMENT_NAMES,
    )


@bp.post("/users/<int:user_id>")
@permission("users.manage")
def user_update(user_id: int) -> Response:
    """Change roles, deactivate or reactivate, lift a sign-in lockout, or set a new password (ends sessions)."""
    db = console_session()
    user = db.get(User, user_id)
    if user is None:
        abort(404)
    action = request.form.get("action")
    if action == "roles":
        roles = [r for r in request.form.getlist("roles") if r in ROLES]
        if not roles:
            flash("至少保留一个角色。", "error")
            return redirect(url_for("console.users"))
        if user.username == g.user.username and "admin" not in roles:
            flash("不能取消自己的管理员角色。", "error")
            return redirect(url_for("console.users"))
        user.roles = ",".join(r for r in ROLES if r in roles)
        record(db, g.user.username, "user.roles", user.username, user.roles, _source())
    elif action == "departments":
        chosen = [d for d in request.form.getlist("departments") if d in DEPARTMENT_NAMES]
        user.departments = ",".join(chosen)
        record(db, g.user.username, "user.departments", user.username, user.departments or "all", _source())
    elif action in ("deactivate", "activate"):
        if user.username == g.user.username:
            flash("不能停用自己的账号。", "error")
            return redirect(url_for("console.users"))
        user.is_active = action == "activate"
        record(db, g.user.username, f"user.{action}", user.username, "", _source())
    elif action == "unlock":
        was_locked = unlock(user.username)
        record(db, g.user.username, "login.unlock", user.username, f"解除{was_locked}个地址的登录锁定", _source())
    elif action == "password":
        try:
            user.password_hash = hash_password(request.form.get("password", ""))
        except AccountError as exc:
            flash(str(exc), "error")
            return redirect(url_for("console.users"))
        user.password_changed_at = now()
        record(db, g.user.username, "user.password", user.username, "", _source())
    else:
        abort(400)
    db.commit()
    if action in ("deactivate", "password"):
        end_sessions_of(current_app._get_current_object(), user.username)  # type: ignore[attr-defined]
    flash("已保存。")
    return redirect(url_for("console.users"))


# -- try it ---------------------------------------------------------------------------------------


def _try_openid(username: str) -> str:
    # A stable pretend citizen per console user, recognisable in the data by its prefix.
    return TRY_OPENID_PREFIX + hashlib.sha256(username.encode()).hexdigest()[:24]


@bp.route("/try", methods=["GET", "POST"])
@permission("try.use")
def try_it() -> Response | str:
    """Talk to the live pipeline as a citizen: signed (and, with a key, encrypted) pushes to /wechat."""
    from bot.simulator import Simulator

    openid = _try_openid(g.user.username)
    if request.method == "POST":
        text = request.form.get("text", "").strip()
        event = request.form.get("event", "")
        if not text and event not in ("subscribe", "CLICK"):
            flash("请输入要发送的内容。", "error")
            return redirect(url_for("console.try_it"))
        sim = Simulator.from_config(current_app.config)
        encrypt = bool(current_app.config["WECHAT_ENCODING_AES_KEY"])
        xml = sim.event_xml(event, openid) if event else sim.text_xml(text[:2000], openid)
        push = sim.sign(xml, encrypt=encrypt, openid=openid)
        # Through the real endpoint (signature, decryption, dedup, pipeline), in this process.
        answer = current_app.test_client().post(f"/wechat?{push.query_string}", data=push.body, content_type="text/xml")
        if answer.status_code != 200:
            flash(f"服务器返回 HTTP {answer.status_code}", "error")
        return redirect(url_for("console.try_it"))
    db = console_session()
    citizen = db.scalar(select(Citizen).where(Citizen.openid == openid))
    lines: Sequence[Message] = []
    if citizen is not None:
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
        lines = db.scalars(
            select(Message).where(Message.citizen_id == citizen.id, Message.received_at >= since).order_by(Message.id)
        ).all()
    return render_template(
        "console/try.html",
        lines=lines,
        Direction=Direction,
        tz=local_tz(),
        titles=template_titles(db),
        message_label=message_label,
    )
