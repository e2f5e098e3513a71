"""Every console page speaks Chinese: no code (complaint, urban_construction, template.publish, faq_office_hours)
where a person reads a name — walked as one user holding every role, after a citizen's complaint went through.

Template keys may appear in small print after a template's Chinese title (``<small class="muted">``), where
developers and the audit trail need them; nowhere else.
"""
from __future__ import annotations

import html
import re
import time
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from bot.console.auth import create_user
from bot.extensions import services
from models import Case, ReplyTemplate, User
from tests.test_console import PASSWORD, login

EVERYONE = "zhangsan"  # a username without "_": it must not look like a code itself
SNAKE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")
# An audit action's code (template.publish); a file name (cases.csv) is not one.
DOTTED = re.compile(
    r"\b(?:template|user|login|library|cases|qa|thread|opinion|campaign|report|retention)\."
    r"(?!(?:csv|xlsx|jsonl|pdf|docx)\b)[a-z_]+\b"
)
ENGLISH_CODES = re.compile(
    r"\b(?:complaint|inquiry|suggestion|praise|chitchat|emergency|accepted|assigned|in_progress|answered|"
    r"acknowledgement|dismissive|published|in_review|rejected|draft)\b"
)
COMPLAINT = ("我要投诉", "小区门口的垃圾堆满了，一直没有人来清理", "幸福路88号幸福小区东门", "从上周开始", "不需要")
PAGES = (
    "/console/", "/console/cases?view=all", "/console/conversations", "/console/library", "/console/review",
    "/console/my/versions", "/console/audit", "/console/users", "/console/dashboard", "/console/reports",
    "/console/opinion", "/console/campaigns", "/console/library/settings", "/console/qa/sample", "/console/try",
    "/console/library/default", "/console/library/default/v/1", "/console/library/default/edit",
)  # fmt: skip


def visible(page: str) -> str:
    """What a person sees: no head, scripts, styles, tags, attribute values or keys in small print."""
    page = re.sub(r"(?s)<head>.*?</head>|<script.*?</script>|<style.*?</style>", " ", page)
    page = re.sub(r'(?s)<small class="muted">.*?</small>', " ", page)
    page = re.sub(r"\{[a-z_]+\}", " ", page)  # placeholders in a template's text are its syntax, named beside it
    page = re.sub(r"(?s)<option[^>]*>", " ", page)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.fixture
def everyone(app: Flask) -> str:
    with services(app).sessions() as session:
        if session.scalar(select(User.id).where(User.username == EVERYONE)) is None:
            create_user(session, EVERYONE, PASSWORD, ["operator", "reviewer", "supervisor", "admin"], by="tests")
            session.commit()
    return EVERYONE


def test_no_page_shows_a_code_where_a_name_belongs(clean_app: Flask, wechat: Any, everyone: str) -> None:
    citizen = "oVocabularyCitizen00000000001"
    start = int(time.time()) - 600
    for i, text in enumerate(COMPLAINT):  # a minute apart: seconds apart would be one answer typed in parts
        xml = wechat.sim.text_xml(text, citizen, create_time=start + 60 * i)
        assert wechat.post(wechat.sim.sign(xml, openid=citizen)).status == 200
    wechat.text("请问办公时间是几点", openid="oVocabularyCitizen00000000002")
    client = login(clean_app, everyone)
    with services(clean_app).sessions() as session:
        case = session.scalars(select(Case).order_by(Case.id)).first()
        assert case is not None, "the complaint should have been filed"
        extra = (f"/console/cases/{case.id}", f"/console/conversations/{case.citizen_id}")
        # Other tests' accounts (t_op …) and their untitled templates (created without the console) are names
        # people gave, not codes of ours.
        given = {u for u in session.scalars(select(User.username))}
        given |= set(session.scalars(select(ReplyTemplate.key).where(ReplyTemplate.title.is_(None))))
    found: dict[str, list[str]] = {}
    for path in (*PAGES, *extra):
        response = client.get(path)
        assert response.status_code == 200, path
        text = visible(response.get_data(as_text=True))
        for name in sorted(given, key=len, reverse=True):
            text = text.replace(name, " ")
        codes = SNAKE.findall(text) + DOTTED.findall(text) + ENGLISH_CODES.findall(text)
        if codes:
            found[path] = sorted(set(codes))
    assert not found, found
