"""The dashboard's figures, scope and charts; case exports (masked, audited); seed-demo — on both backends."""
from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
import zipfile
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.console.auth import create_user
from bot.extensions import services
from cases import stats
from cases.loop import Worker
from models import TRY_OPENID_PREFIX, AuditEntry, Case, CaseStatus, CaseType, Citizen, Direction, Message, User, utcnow
from tests.test_console import PASSWORD, login, token

TZ = ZoneInfo("Asia/Shanghai")
ENV_OP, ROADS_OP, SUP, ADMIN = "t_dash_env", "t_dash_roads", "t_dash_sup", "t_dash_adm"
MOBILE = "13812345678"
ALL = Worker("sup")
ENV = Worker("env", frozenset({"environment"}))


@pytest.fixture(scope="session")
def dash_accounts(app: Flask) -> None:
    """An operator per department, a supervisor and an admin."""
    with services(app).sessions() as session:
        for name, roles, depts in ((ENV_OP, ["operator"], "environment"),
                                   (ROADS_OP, ["operator"], "urban_construction"),
                                   (SUP, ["supervisor"], ""), (ADMIN, ["admin"], "")):
            if session.scalar(select(User.id).where(User.username == name)) is None:
                create_user(session, name, PASSWORD, roles, by="tests").departments = depts
        session.commit()


def add_case(db: Session, *, department: str = "environment", opened_ago: dt.timedelta = dt.timedelta(days=3),
             due_in: dt.timedelta = dt.timedelta(days=5), status: CaseStatus = CaseStatus.IN_PROGRESS,
             answered_after: dt.timedelta | None = None, closed_after: dt.timedelta | None = None,
             rating: int | None = None, summary: str = "小区门口路灯坏了", case_type: CaseType = CaseType.COMPLAINT,
             intent: str = "complaint") -> Case:
    """A citizen, their inbound message and a case with the given life (times relative to the opening)."""
    opened = utcnow() - opened_ago
    citizen = Citizen(openid="oDash" + uuid.uuid4().hex[:23], first_seen_at=opened, last_seen_at=opened)
    db.add(citizen)
    db.flush()
    msg = Message(direction=Direction.IN, citizen_id=citizen.id, dedup_key=uuid.uuid4().hex, msg_type="text",
                  content=summary, created_at=opened, received_at=opened, intent=intent, department=department)
    db.add(msg)
    db.flush()
    case = Case(number=f"D{msg.id:010d}", case_type=case_type, status=status, department=department,
                citizen_id=citizen.id, opening_message_id=msg.id, summary=summary, opened_at=opened,
                due_at=opened + due_in, sla_amount=5, sla_unit="working_days", owner_department=department,
                answered_at=opened + answered_after if answered_after is not None else None,
                closed_at=opened + closed_after if closed_after is not None else None, rating=rating)
    db.add(case)
    db.flush()
    return case


def _kpi_cases(db: Session) -> None:
    day = dt.timedelta(days=1)
    ago = dt.timedelta(days=10)
    # 1. answered and closed before the deadline, 非常满意
    add_case(db, opened_ago=ago, due_in=5 * day, status=CaseStatus.CLOSED, answered_after=day, closed_after=2 * day,
             rating=5)
    # 2. answered and closed after the deadline, 不满意
    add_case(db, opened_ago=ago, due_in=2 * day, status=CaseStatus.CLOSED, answered_after=3 * day,
             closed_after=4 * day, rating=2)
    # 3. answered before the deadline, closed after it: on time (the citizen had the answer in time), 基本满意
    add_case(db, opened_ago=ago, due_in=2 * day, status=CaseStatus.CLOSED, answered_after=day, closed_after=3 * day,
             rating=3)
    # 4. open, no answer, past its deadline: overdue, must count against the on-time rate
    add_case(db, opened_ago=ago, due_in=2 * day, status=CaseStatus.IN_PROGRESS)
    # 5. open, deadline ahead
    add_case(db, opened_ago=day, due_in=5 * day, status=CaseStatus.ASSIGNED)
    # 6. answered, not closed yet, deadline passed after the answer: not overdue
    add_case(db, opened_ago=ago, due_in=2 * day, status=CaseStatus.ANSWERED, answered_after=day)
    # 7. a merged duplicate and 8. an emergency handed to 119: outside the rates
    add_case(db, opened_ago=ago, status=CaseStatus.MERGED, closed_after=day)
    add_case(db, opened_ago=ago, status=CaseStatus.HANDED_OVER, closed_after=dt.timedelta(minutes=5),
             case_type=CaseType.EMERGENCY, intent="emergency")


def test_rates_on_a_known_set_of_cases(db: Session) -> None:
    _kpi_cases(db)
    # Another department's case and one opened before the period change nothing below.
    add_case(db, department="transport", status=CaseStatus.CLOSED, answered_after=dt.timedelta(hours=1),
             closed_after=dt.timedelta(hours=2))
    add_case(db, opened_ago=dt.timedelta(days=45), status=CaseStatus.IN_PROGRESS, due_in=dt.timedelta(days=1))
    db.commit()
    now = utcnow()
    board = stats.dashboard(db, ENV, stats.Period.last_days(30, now, TZ), now=now)
    t = board.totals
    assert (t.total, t.merged, t.handed_over, t.counted) == (8, 1, 1, 6)
    assert (t.response.numerator, t.response.denominator) == (4, 6)
    assert (t.solve.numerator, t.solve.denominator) == (3, 6)
    assert (t.satisfaction.numerator, t.satisfaction.denominator) == (2, 3)
    # Closed on time: cases 1 and 3; over closed (3) + open and overdue (1).
    assert (t.on_time.numerator, t.on_time.denominator) == (2, 4)
    assert t.on_time.rate == 0.5 and t.open_overdue == 1
    # Without the open overdue case the rate would read 2/3: it is what keeps the rate honest.
    assert t.on_time.rate < stats.Ratio(2, 3).rate  # type: ignore[operator]
    # Days, types and departments add up to the same totals.
    assert sum(c.total for c in board.case_counts("day").values()) == 8
    assert board.case_counts("type")["emergency"].handed_over == 1
    # Messages: the 8 cases' opening messages (the 45-day-old one is outside the period, transport outside scope).
    assert sum(board.messages_by("intent").values()) == 8 and board.messages_by("department") == {"environment": 8}
    assert board.messages_by("intent") == {"complaint": 7, "emergency": 1}


def test_hot_spots_rise_week_over_week(db: Session) -> None:
    day = dt.timedelta(days=1)
    for ago in (1, 2, 3):
        add_case(db, department="urban_construction", opened_ago=ago * day + dt.timedelta(hours=1),
                 summary="我家门口人民路的路灯坏了")
    add_case(db, department="urban_construction", opened_ago=9 * day, summary="人民路的路灯坏了好几天")
    # Falling: more last week than this week.
    for ago in (8, 9, 10):
        add_case(db, opened_ago=ago * day, summary="幸福小区旁边工地噪音扰民")
    add_case(db, opened_ago=2 * day, summary="幸福小区旁边工地噪音扰民")
    db.commit()
    themes, places, read, truncated = stats.hot_spots(db, ALL, utcnow(),
                                                      department_names={"urban_construction": "城建"})
    assert (read, truncated) == (8, False)
    lamp = next(t for t in themes if t.key == "urban_construction|路灯")
    assert (lamp.label, lamp.this_week, lamp.last_week, lamp.change) == ("城建 · 路灯", 3, 1, 2)
    road = next(t for t in places if t.key == "人民路")
    assert (road.this_week, road.last_week) == (3, 1)
    assert not any("幸福小区" in t.key or "噪音" in t.key for t in themes + places)
    # The environment operator's scope has none of the rising road cases.
    env_themes, env_places, _, _ = stats.hot_spots(db, ENV, utcnow())
    assert not any(t.key.startswith("urban_construction") for t in env_themes) and not env_places


def test_places_are_cut_at_the_words_before_them() -> None:
    assert stats.extract_places("我家门口人民路有个坑") == {"人民路"}
    assert stats.extract_places("锦绣家园小区门口的井盖松动了") == {"锦绣家园小区"}
    assert stats.extract_places("人民路和解放路路口的红绿灯坏了") == {"人民路", "解放路"}
    assert stats.extract_places("市人民医院挂号难，王家村的老人去不了") == {"市人民医院", "王家村"}
    assert stats.extract_terms("小区门口路灯坏了，噪音扰民") == {"路灯", "噪音", "扰民"}


def test_the_dashboard_page_is_scoped_and_draws_charts(clean_app: Flask, dash_accounts: None) -> None:
    with services(clean_app).sessions() as db:
        _kpi_cases(db)
        for _ in range(3):
            add_case(db, department="urban_construction", status=CaseStatus.ASSIGNED, summary="人民路路灯坏了")
        db.commit()
    sup = login(clean_app, SUP).get("/console/dashboard")
    assert sup.status_code == 200
    page = sup.get_data(as_text=True)
    assert "受理诉求 11 件" in page and "<svg" in page and "<polyline" in page and "<script" not in page
    assert "按时办结率" in page and "计入分母" in page
    env = login(clean_app, ENV_OP).get("/console/dashboard").get_data(as_text=True)
    assert "受理诉求 8 件" in env and "50.0%" in env  # on-time 2/4 in the environment department
    roads = login(clean_app, ROADS_OP).get("/console/dashboard").get_data(as_text=True)
    assert "受理诉求 3 件" in roads and "生态环境部门" not in roads.split("按承办部门")[1]
    # A chosen range: nothing happened in 2020.
    old = login(clean_app, SUP).get("/console/dashboard?from=2020-01-01&to=2020-01-31").get_data(as_text=True)
    assert "受理诉求 0 件" in old and "2020-01-31" in old
    # A malformed date falls back to the default range instead of failing.
    assert login(clean_app, SUP).get("/console/dashboard?from=yesterday").status_code == 200


def test_try_it_conversations_are_not_counted(db: Session) -> None:
    """Staff talking to the bot from the console's try-it page is not the unit's work: not in any figure."""
    add_case(db, summary="人民路路灯坏了")
    rehearsal = add_case(db, summary="人民路路灯坏了")
    rehearsal_citizen = db.get(Citizen, rehearsal.citizen_id)
    assert rehearsal_citizen is not None
    rehearsal_citizen.openid = TRY_OPENID_PREFIX + uuid.uuid4().hex[:24]
    add_case(db, summary="人民路路灯又坏了", opened_ago=dt.timedelta(days=10))
    db.commit()
    now = utcnow()
    board = stats.dashboard(db, ALL, stats.Period.last_days(30, now, TZ), now=now)
    assert board.totals.total == 2
    assert sum(board.messages_by("intent").values()) == 2
    # Counted, the rehearsal would make 人民路 a rising place (2 this week against 1 last week).
    themes, places, read, _ = stats.hot_spots(db, ALL, now)
    assert read == 2 and places == [] and themes == []


def test_figures_pages_and_exports_name_the_channel(clean_app: Flask, dash_accounts: None) -> None:
    """Every door into the same loop is counted and shown by name (today's cases come through WeChat)."""
    with services(clean_app).sessions() as db:
        add_case(db, summary="人民路路灯坏了")
        hotline = add_case(db, summary="解放路井盖缺失")
        hotline.channel = "hotline"
        opening = db.get(Message, hotline.opening_message_id)
        assert opening is not None
        opening.channel = "hotline"
        db.commit()
        now = utcnow()
        board = stats.dashboard(db, ALL, stats.Period.last_days(30, now, TZ), now=now)
        assert board.channels == {"wechat": [1, 1], "hotline": [1, 1]}
        case_id, number = hotline.id, hotline.number
    sup = login(clean_app, SUP)
    page = sup.get("/console/dashboard").get_data(as_text=True).split('id="by-channel"')[1].split("</table>")[0]
    assert "微信公众号" in page and "12345热线" in page and "hotline" not in page
    assert "12345热线" in sup.get(f"/console/cases/{case_id}").get_data(as_text=True).split('id="case-channel"')[1]
    body = sup.get("/console/cases/export?format=csv&view=all").get_data().decode("utf-8-sig")
    rows = {r[0]: r for r in csv.reader(io.StringIO(body))}
    column = rows["受理编号"].index("渠道")
    assert rows[number][column] == "12345热线"


def test_chart_axes_use_round_ticks_and_the_legend_keeps_its_colours(clean_app: Flask, dash_accounts: None) -> None:
    from bot.console import charts

    for peak in (3, 5, 7, 13, 99, 130, 487, 1234):
        top = charts._nice_max(peak)
        values = [t["value"] for t in charts._ticks(top, 100, 100)]
        step = values[1] - values[0]
        assert values[-1] == top >= peak and 2 <= len(values) <= 6
        # Every tick a multiple of one round step (1, 2 or 5 × 10ⁿ): never 0, 125, 250, 375.
        assert str(step).strip("0") in ("1", "2", "5") and all(v % step == 0 for v in values)
    with services(clean_app).sessions() as db:
        _kpi_cases(db)
        db.commit()
    page = login(clean_app, SUP).get("/console/dashboard").get_data(as_text=True)
    # The legend's colour is a swatch beside its name, not an <svg> the chart's CSS stretches.
    legend = page.split('<ul class="legend">')[1].split("</ul>")[0]
    assert '<span class="swatch c0"' in legend and "<svg" not in legend


# -- exports -------------------------------------------------------------------------------------------


def _export_case(app: Flask) -> str:
    with services(app).sessions() as db:
        case = add_case(db, summary=f"=HYPERLINK(\"http://x\") 小区噪音，电话{MOBILE}")
        db.commit()
        return case.number


def _audits(app: Flask, action: str) -> list[AuditEntry]:
    with services(app).sessions() as db:
        return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_exports_are_masked_by_default(clean_app: Flask, dash_accounts: None) -> None:
    number = _export_case(clean_app)
    client = login(clean_app, SUP)
    before = len(_audits(clean_app, "cases.export"))
    resp = client.get("/console/cases/export?format=csv&view=all")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    body = resp.get_data()
    assert MOBILE.encode() not in body and b"138****5678" in body
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][0] == "受理编号" and len(rows) == 2 and rows[1][0] == number
    assert rows[1][6].startswith("'=HYPERLINK")  # formula escaped
    assert MOBILE not in rows[1][5] and rows[1][5].startswith("oDas")  # OpenID masked
    xlsx = client.get("/console/cases/export?format=xlsx&view=all")
    assert xlsx.status_code == 200
    data = xlsx.get_data()
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        for name in book.namelist():
            assert MOBILE.encode() not in book.read(name), name
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(data)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[1][0] == number and values[1][6].startswith("=HYPERLINK") and "138****5678" in values[1][6]
    assert all(c.data_type == "s" for row in sheet.iter_rows() for c in row if c.value is not None)
    entries = _audits(clean_app, "cases.export")[before:]
    assert [e.actor for e in entries] == [SUP, SUP]
    assert "CSV，1行，已脱敏" in entries[0].detail and '"view": "all"' in entries[0].detail
    assert "XLSX，1行，已脱敏" in entries[1].detail
    # The export follows the list's filters: another department has nothing.
    other = client.get("/console/cases/export?format=csv&view=all&department=transport").get_data()
    assert len(list(csv.reader(io.StringIO(other.decode("utf-8-sig"))))) == 1


def test_the_unmasked_export_is_for_supervisors_with_a_reason(clean_app: Flask, dash_accounts: None) -> None:
    _export_case(clean_app)
    # Operators may not export at all; admins may export masked files only.
    op = login(clean_app, ENV_OP)
    assert op.get("/console/cases/export?format=csv").status_code == 403
    assert op.post("/console/cases/export/unmasked", data={"csrf_token": token(op, "/console/"), "reason": "核实情况",
                                                           "view": "all"}).status_code == 403
    adm = login(clean_app, ADMIN)
    assert adm.post("/console/cases/export/unmasked", data={"csrf_token": token(adm, "/console/"), "reason": "核实情况",
                                                            "view": "all"}).status_code == 403
    sup = login(clean_app, SUP)
    before = len(_audits(clean_app, "cases.export_unmasked"))
    refused = sup.post("/console/cases/export/unmasked", data={"csrf_token": token(sup, "/console/"), "view": "all"})
    assert refused.status_code == 302 and len(_audits(clean_app, "cases.export_unmasked")) == before
    resp = sup.post("/console/cases/export/unmasked",
                    data={"csrf_token": token(sup, "/console/"), "reason": "纪检调查需要核实来电人", "view": "all",
                          "format": "csv"})
    assert resp.status_code == 200 and MOBILE.encode() in resp.get_data()
    entry = _audits(clean_app, "cases.export_unmasked")[-1]
    assert entry.actor == SUP and "CSV，1行，含个人信息" in entry.detail and "纪检调查需要核实来电人" in entry.detail
    # The case list offers the exports to those who may use them.
    page = sup.get("/console/cases").get_data(as_text=True)
    assert "/console/cases/export?format=csv" in page and "导出完整信息" in page
    assert "/console/cases/export" not in login(clean_app, ENV_OP).get("/console/cases").get_data(as_text=True)


# -- seed-demo -----------------------------------------------------------------------------------------


def test_seed_demo_writes_consistent_rows(clean_app: Flask) -> None:
    from bot.dev.demo_data import seed

    svc = services(clean_app)
    counts = seed(svc.engine, 2000, days=30, tz=TZ, seed_value=3)
    with svc.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Message)) == counts["messages"] == 2000
        assert db.scalar(select(func.count()).select_from(Case)) == counts["cases"] > 300
        assert db.scalar(select(func.count()).select_from(Citizen)) == counts["citizens"]
        cases = db.scalars(select(Case)).all()
        assert len({c.number for c in cases}) == len(cases)
        inbound = {m.id: m for m in db.scalars(select(Message).where(Message.direction == Direction.IN))}
        answers = {m.case_id for m in db.scalars(select(Message).where(Message.direction == Direction.OUT,
                                                                       Message.responder != "bot"))}
        statuses = set()
        for c in cases:
            statuses.add(c.status)
            opening = inbound[c.opening_message_id]
            assert opening.citizen_id == c.citizen_id and opening.received_at == c.opened_at
            assert opening.intent not in (None, "chitchat")
            assert (c.answered_at is not None) == (c.id in answers)
            if c.status is CaseStatus.CLOSED:
                assert c.answered_at is not None and c.closed_at is not None and c.closed_at >= c.answered_at
            if c.rating is not None:
                assert c.status is CaseStatus.CLOSED and 1 <= c.rating <= 5
            if c.status is CaseStatus.MERGED:
                assert c.merged_into_id is not None
            if c.status is CaseStatus.HANDED_OVER:
                assert c.handed_to in ("110", "119", "120", "122") and c.case_type is CaseType.EMERGENCY
            assert c.opened_at <= utcnow() and c.due_at > c.opened_at
        assert {CaseStatus.CLOSED, CaseStatus.IN_PROGRESS, CaseStatus.HANDED_OVER} <= statuses
        # Every reply answers an inbound message of the same citizen.
        for reply, to in db.execute(select(Message, Message.in_reply_to_id).where(Message.in_reply_to_id.is_not(None))):
            assert inbound[to].citizen_id == reply.citizen_id
        # Citizens were first and last seen when their messages say.
        for citizen in db.scalars(select(Citizen)):
            first, last = db.execute(select(func.min(Message.received_at), func.max(Message.received_at))
                                     .where(Message.citizen_id == citizen.id, Message.direction == Direction.IN)).one()
            assert (citizen.first_seen_at, citizen.last_seen_at) == (first, last)
    # Additive: a second run adds beside the first (new OpenIDs), and the dashboard reads it.
    seed(svc.engine, 500, days=30, tz=TZ, seed_value=3)
    with svc.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Message)) == 2500
        now = utcnow()
        board = stats.dashboard(db, ALL, stats.Period.last_days(30, now, TZ), now=now)
        assert 0 < board.totals.total <= db.scalar(select(func.count()).select_from(Case))
        assert sum(board.messages_by("day").values()) == db.scalar(
            select(func.count()).select_from(Message).where(
                Message.direction == Direction.IN, Message.received_at >= stats.Period.last_days(30, now, TZ).start))


def test_seed_demo_refuses_production(backend: Any) -> None:
    from bot.cli.core import cli

    result = CliRunner().invoke(cli, ["seed-demo", "--messages", "10"],
                                env={**backend.env(), "MINSHENG_ENV": "production"})
    assert result.exit_code == 2 and "production" in result.output
