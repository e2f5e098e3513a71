"""常见问题缺口: unanswered inquiries grouped, each proposing an FAQ draft with its questions (both backends)."""
from __future__ import annotations

import datetime as dt
import html
import uuid
from urllib.parse import urlparse

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.console.auth import create_user
from bot.extensions import services
from cases.faq_gaps import unanswered
from cases.loop import Worker
from models import TRY_OPENID_PREFIX, CaseType, Citizen, User, utcnow
from tests.test_console import PASSWORD, login
from tests.test_dashboard import add_case

OPERATOR, HEALTH_OP = "t_gaps_op", "t_gaps_health"
SOCIAL = (
    "请问社保卡丢了怎么补办",
    "社保卡补办需要带什么材料，电话13812345678",
    "社保卡补办要多久能拿到",
    "在哪里可以补办社保卡",
    "社保卡补办可以网上办理吗",
)
FUND = ("公积金提取需要什么手续", "住房公积金怎么提取出来", "公积金提取多久到账", "离职了公积金可以提取吗")


@pytest.fixture
def gap_accounts(app: Flask) -> None:
    with services(app).sessions() as session:
        for name, depts in ((OPERATOR, ""), (HEALTH_OP, "health")):
            if session.scalar(select(User.id).where(User.username == name)) is None:
                create_user(session, name, PASSWORD, ["operator"], by="tests").departments = depts
        session.commit()


def _inquiries(db: Session) -> None:
    for text in SOCIAL + FUND:
        add_case(db, department="labor_social_security", summary=text, case_type=CaseType.INQUIRY, intent="inquiry",
                 opened_ago=dt.timedelta(days=2))
    # Rehearsed in the try-it chat: not a citizen's question.
    rehearsal = add_case(db, department="labor_social_security", summary="社保卡补办流程是什么",
                         case_type=CaseType.INQUIRY, intent="inquiry", opened_ago=dt.timedelta(days=1))
    citizen = db.get(Citizen, rehearsal.citizen_id)
    assert citizen is not None
    citizen.openid = TRY_OPENID_PREFIX + uuid.uuid4().hex[:24]
    # A complaint is not a gap of the FAQ library; nor is an inquiry of last year.
    add_case(db, department="labor_social_security", summary="社保卡补办窗口态度很差")
    add_case(db, department="labor_social_security", summary="社保卡补办怎么办理", case_type=CaseType.INQUIRY,
             intent="inquiry", opened_ago=dt.timedelta(days=200))
    db.commit()


def test_unanswered_questions_are_inquiry_cases_of_the_period_in_scope(db: Session) -> None:
    _inquiries(db)
    questions = unanswered(db, Worker("t"), utcnow() - dt.timedelta(days=30))
    assert sorted(questions) == sorted(SOCIAL + FUND)
    assert unanswered(db, Worker("t", frozenset({"health"})), utcnow() - dt.timedelta(days=30)) == []


@pytest.mark.usefixtures("gap_accounts")
def test_the_gaps_page_groups_questions_and_starts_an_faq_draft(clean_app: Flask) -> None:
    with services(clean_app).sessions() as db:
        _inquiries(db)
    op = login(clean_app, OPERATOR)
    page = op.get("/console/library/gaps").get_data(as_text=True)
    assert "共9条" in page and "13812345678" not in page
    cards = page.split('class="card gap"')[1:]
    assert len(cards) == 2
    social = next(c for c in cards if "社保卡" in c.split("</h2>")[0])
    fund = next(c for c in cards if "公积金" in c.split("</h2>")[0])
    assert "（5条" in social and "（4条" in fund
    # The proposal opens the new-template form with the purpose, a title and the questions as triggers.
    link = html.unescape(social.split('class="button" href="')[1].split('"')[0])
    url = urlparse(link)
    form = op.get(f"{url.path}?{url.query}").get_data(as_text=True)
    assert '<option value="faq" selected' in form and 'value="常见问题：' in form
    triggers = form.split('name="triggers"')[1].split("</textarea>")[0]
    assert "社保卡" in triggers and "13812345678" not in triggers
    # A department's operator sees only their department's questions.
    other = login(clean_app, HEALTH_OP).get("/console/library/gaps").get_data(as_text=True)
    assert "共0条" in other and 'class="card gap"' not in other
