"""A citizen rates a closed case by answering the satisfaction prompt; a bad rating opens a revisit."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from bot.extensions import services
from models import Case, CaseEvent, CaseStatus, Citizen, Direction, Message, utcnow
from tests.conftest import WeChat
from tests.test_cases import make_case


def _closed_and_prompted(app, openid: str, prompt_status: str = "sent") -> int:
    with services(app).sessions() as session:
        case = make_case(session, department="environment")
        citizen = session.get(Citizen, case.citizen_id)
        citizen.openid = openid
        case.status, case.answered_at, case.closed_at = CaseStatus.CLOSED, utcnow(), utcnow()
        session.add(Message(direction=Direction.OUT, citizen_id=case.citizen_id, msg_type="text",
                            content="请您评价", case_id=case.id, template_key="satisfaction_prompt",
                            template_version=1, responder="wu", delivery_status=prompt_status,
                            received_at=utcnow() - dt.timedelta(minutes=1)))
        session.commit()
        return case.id


@pytest.mark.parametrize(("reply", "rating", "revisit", "template"), [
    ("1", 5, False, "rating_thanks"),
    ("满意", 4, False, "rating_thanks"),
    ("4", 2, True, "rating_revisit"),
    ("非常不满意", 1, True, "rating_revisit"),
])
def test_the_prompts_numbers_and_words_rate_the_case(clean_app, wechat: WeChat, reply: str, rating: int,
                                                     revisit: bool, template: str) -> None:
    openid = "oRatingCitizen00000000000001"
    case_id = _closed_and_prompted(clean_app, openid)
    sent = wechat.text(reply, openid=openid)
    assert sent.reply
    with services(clean_app).sessions() as session:
        case = session.get(Case, case_id)
        assert case is not None and case.rating == rating and case.revisit_due is revisit
        assert case.number in sent.reply
        out = session.scalars(select(Message).where(Message.citizen_id == case.citizen_id,
                                                    Message.direction == Direction.OUT)
                              .order_by(Message.id.desc())).first()
        assert out is not None and out.template_key == template
        assert session.scalar(select(CaseEvent.action).where(CaseEvent.case_id == case_id)) == "rate"


def test_a_number_is_not_a_rating_without_a_delivered_prompt(clean_app, wechat: WeChat) -> None:
    openid = "oRatingCitizen00000000000002"
    case_id = _closed_and_prompted(clean_app, openid, prompt_status="failed")
    wechat.text("1", openid=openid)
    with services(clean_app).sessions() as session:
        assert session.get(Case, case_id).rating is None
