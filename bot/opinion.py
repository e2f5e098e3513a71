"""The opinion watch in a deployment: one running copy (a Redis lock), a poll loop, and the notice to the duty.

``python -m bot opinion watch`` (started by ``run-all``; in production its own service, as the delivery worker
is) runs :class:`cases.opinion_watch.Watch` every ``interval`` seconds. Two copies may run for availability:
only the holder of the lock reads messages; the other waits, and rebuilds from the database when it takes over.
A new incident is told to the supervisors on duty (the openids in the setting ``opinion.duty``, set on the
console's 舆情 page) as a customer-service message rendered from the vetted template ``opinion_duty_notice``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.jobs import enqueue_delivery
from bot.services import services
from cases.opinion import CLOCK_HOURS
from cases.opinion_watch import Raised, Watch, label
from cases.outbound import queued_message
from models import Citizen, Message, OpinionIncident, Setting, utcnow
from text.pii import mask_openid

log = logging.getLogger(__name__)

DUTY_KEY = "opinion.duty"
NOTICE_TEMPLATE = "opinion_duty_notice"
LOCK_SECONDS = 90


def duty_openids(session: Session) -> list[str]:
    """The WeChat openids of the supervisors on duty."""
    row = session.get(Setting, DUTY_KEY)
    return list(json.loads(row.value)) if row is not None else []


def notify(app: Flask, session: Session, raised: Raised) -> list[int]:
    """Queue the duty notice for each supervisor on duty; record on the incident who was told. Commits."""
    svc = services()
    incident = session.get(OpinionIncident, raised.incident_id)
    assert incident is not None
    duty = duty_openids(session)
    if not duty:
        incident.notified = "未设置值班人员：请在舆情页面设置"
        session.commit()
        return []
    deadline = raised.raised_at + dt.timedelta(hours=CLOCK_HOURS[0])
    variables: dict[str, Any] = {
        "theme": raised.theme or "同一问题",
        "place": raised.place or "多处",
        "count": raised.citizens,
        "deadline": deadline,
    }
    rendered = svc.library.render(session, NOTICE_TEMPLATE, variables, deadline_with_time=True)
    if rendered.is_fallback:
        incident.notified = "值班提醒模板未发布，未发送"
        session.commit()
        return []
    queued: list[Message] = []
    now = utcnow()
    for openid in duty:
        citizen = session.scalar(select(Citizen).where(Citizen.openid == openid))
        if citizen is None:
            citizen = Citizen(openid=openid, first_seen_at=now, last_seen_at=now)
            session.add(citizen)
            session.flush()
        message = queued_message(
            citizen.id, rendered.text, rendered.template_key, rendered.template_version, "opinion-watch", now
        )
        session.add(message)
        queued.append(message)
    session.flush()
    incident.notified = "已通知值班人员：" + "、".join(mask_openid(o) for o in duty)
    session.commit()
    ids = [m.id for m in queued]
    for message_id in ids:
        try:
            enqueue_delivery(app, message_id)
        except Exception:  # the row stays queued; deliver-queued sends it later
            log.exception("could not enqueue the duty notice (message %s)", message_id)
    return ids


def run(app: Flask, *, once: bool = False, interval: float = 30.0) -> int:
    """Watch until stopped (or one round with ``once``); returns the incidents raised."""
    svc = services()
    lock = svc.redis.lock(f"{app.config['REDIS_NAMESPACE']}:opinion:watch", timeout=LOCK_SECONDS)
    watch: Watch | None = None
    raised_total = 0
    while True:
        held = lock.reacquire() if lock.owned() else lock.acquire(blocking=False)
        if not held:
            watch = None  # another copy watches; rebuild from the database if this one takes over
        else:
            with svc.sessions() as session:
                if watch is None:
                    watch = Watch()
                    watch.rebuild(session, utcnow())
                    session.commit()
                raised = watch.step(session, utcnow())
                session.commit()
                for item in raised:
                    log.warning("opinion alert #%d: %s, %d citizens", item.incident_id,
                                label(item.theme, item.place), item.citizens)  # fmt: skip
                    notify(app, session, item)
                raised_total += len(raised)
        if once:
            if lock.owned():
                lock.release()
            return raised_total
        time.sleep(interval)
