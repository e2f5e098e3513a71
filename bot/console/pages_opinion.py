"""Rising-issue incidents (舆情预警): the list with each one's public-opinion clock, one incident's messages, and
the supervisors on duty who are told when one is raised.

The clock (5 h 发布权威信息, 24 h 情况说明, 48 h 回应关切; POLICY.md) runs from when the incident was raised; a
supervisor marks each step done (audited). Messages are shown masked, each linked to its thread, and only those
the user may read (a department's staff see the messages routed to them).
"""

from __future__ import annotations

import datetime as dt
import json
import re

from flask import abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from bot.console.audit import record
from bot.console.auth import permission
from bot.console.blueprint import bp
from bot.console.pages_cases import worker
from bot.extensions import console_session
from bot.opinion import DUTY_KEY, duty_openids
from cases.opinion import CLOCK_HOURS
from cases.opinion_watch import label, usual
from cases.threads import readable_messages
from models import Message, OpinionIncident, Setting, utcnow
from text.pii import mask_openid, mask_text

PAGE_SIZE = 50
MESSAGES_SHOWN = 200
# The clock's steps: the incident's column, what is due, and when (hours after raising).
STEPS = (
    ("info_at", "发布权威信息", CLOCK_HOURS[0]),
    ("briefing_at", "通报详细情况", CLOCK_HOURS[1]),
    ("response_at", "回应群众关切", CLOCK_HOURS[2]),
)
_OPENID = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


def clock(incident: OpinionIncident, now: dt.datetime) -> list[dict[str, object]]:
    """Each step of the incident's clock: name, deadline, when done, and whether it is late."""
    out = []
    for column, name, hours in STEPS:
        due = incident.raised_at + dt.timedelta(hours=hours)
        done = getattr(incident, column)
        out.append({"column": column, "name": name, "due": due, "done": done,
                    "late": (done or now) > due})  # fmt: skip
    return out


@bp.get("/opinion")
@permission("opinion.read")
def opinion() -> str:
    """Incidents, open first then newest; each with its clock."""
    db = console_session()
    now = utcnow()
    page = max(1, request.args.get("page", 1, type=int) or 1)
    rows = db.scalars(
        select(OpinionIncident)
        .order_by((OpinionIncident.status == "open").desc(), OpinionIncident.raised_at.desc())
        .limit(PAGE_SIZE + 1)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    return render_template(
        "console/opinion.html",
        incidents=[
            (i, label(i.theme, i.place), len(json.loads(i.message_ids)), clock(i, now)) for i in rows[:PAGE_SIZE]
        ],
        page=page,
        more=len(rows) > PAGE_SIZE,
        duty=[mask_openid(o) for o in duty_openids(db)],
    )


def _incident(incident_id: int) -> OpinionIncident:
    incident = console_session().get(OpinionIncident, incident_id)
    if incident is None:
        abort(404)
    return incident


@bp.get("/opinion/<int:incident_id>")
@permission("opinion.read")
def opinion_incident(incident_id: int) -> str:
    """One incident: its clock and the messages it groups (masked; those the user may read)."""
    db = console_session()
    incident = _incident(incident_id)
    ids = json.loads(incident.message_ids)
    messages = db.scalars(
        readable_messages(select(Message).where(Message.id.in_(ids[:MESSAGES_SHOWN])), worker()).order_by(Message.id)
    ).all()
    return render_template(
        "console/opinion_incident.html",
        incident=incident,
        title=label(incident.theme, incident.place),
        usual=usual(incident.expected),
        clock=clock(incident, utcnow()),
        messages=[(m, mask_text(m.content or "")) for m in messages],
        total=len(ids),
        withheld=min(len(ids), MESSAGES_SHOWN) - len(messages),
    )


@bp.post("/opinion/<int:incident_id>/step")
@permission("opinion.manage")
def opinion_step(incident_id: int) -> Response:
    """Mark a step of the clock done (or the incident closed), with a note; audited."""
    db = console_session()
    incident = _incident(incident_id)
    step = request.form.get("step", "")
    note = request.form.get("note", "").strip()
    names = {column: name for column, name, _ in STEPS}
    if step == "close":
        if incident.status != "open":
            flash("该事件已结束。", "error")
        else:
            incident.status, incident.closed_at = "closed", utcnow()
            record(db, g.user.username, "opinion.close", f"opinion:{incident.id}", mask_text(note[:500]),
                   (request.remote_addr or "")[:64])  # fmt: skip
            flash("已结束该舆情事件。")
    elif step in names:
        if getattr(incident, step) is not None:
            flash("该环节已标记完成。", "error")
        elif len(note) < 2:
            flash("请简要说明做了什么（如发布渠道、说明内容）。", "error")
        else:
            setattr(incident, step, utcnow())
            record(db, g.user.username, "opinion.step", f"opinion:{incident.id}",
                   f"{names[step]}：{mask_text(note[:500])}", (request.remote_addr or "")[:64])  # fmt: skip
            flash(f"已记录：{names[step]}")
    else:
        abort(400)
    incident.updated_by = g.user.username
    db.commit()
    return redirect(url_for("console.opinion_incident", incident_id=incident.id))


@bp.post("/opinion/duty")
@permission("opinion.manage")
def opinion_duty() -> Response:
    """The WeChat openids of the supervisors on duty (one per line); they get a message when an incident opens."""
    db = console_session()
    lines = [line.strip() for line in request.form.get("openids", "").splitlines() if line.strip()]
    bad = [line for line in lines if not _OPENID.match(line)]
    if bad or len(lines) > 20:
        flash(
            "请每行填写一个微信OpenID（最多20个）；以下内容无法识别：" + "、".join(mask_text(b)[:20] for b in bad),
            "error",
        )
        return redirect(url_for("console.opinion"))
    row = db.get(Setting, DUTY_KEY)
    value = json.dumps(sorted(set(lines)))
    if row is None:
        db.add(Setting(key=DUTY_KEY, value=value, updated_at=utcnow(), updated_by=g.user.username))
    else:
        row.value, row.updated_at, row.updated_by = value, utcnow(), g.user.username
    told = "、".join(mask_openid(o) for o in sorted(set(lines))) or "（清空）"
    record(db, g.user.username, "opinion.duty", "opinion.duty", told, (request.remote_addr or "")[:64])
    db.commit()
    flash(f"值班人员已更新（{len(set(lines))}人）。")
    return redirect(url_for("console.opinion"))
