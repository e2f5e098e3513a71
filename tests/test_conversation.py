"""Guided conversations as a citizen lives them: intake to a case, FAQ answers, status, keyword rules, limits.

Every test runs on both backends (SQLite + embedded Redis, PostgreSQL + Redis server) and asserts on
what the citizen receives and on the rows written.
"""
from __future__ import annotations

import csv
import datetime as dt
import itertools
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from bot.extensions import services
from handlers.autoreply import FAQ_THRESHOLD, FaqIndex
from handlers.dedupe import Claim
from handlers.types import InboundMessage
from models import Case, CaseType, Direction, Message
from replies.library import load_seed
from tests.conftest import WeChat, count

ROOT = Path(__file__).resolve().parent.parent
_msg_ids = itertools.count(880_000)


class Chat:
    """One citizen talking to the account, a minute between messages unless told otherwise."""

    def __init__(self, wechat: WeChat, openid: str, start: int = 1_764_201_600) -> None:
        self.wechat = wechat
        self.openid = openid
        self.t = start
        self.sent = 0

    def say(self, text: str, gap: int = 60) -> str | None:
        self.t += gap
        self.sent += 1
        xml = self.wechat.sim.text_xml(text, self.openid, msg_id=next(_msg_ids), create_time=self.t)
        sent = self.wechat.xml(xml)
        assert sent.status == 200
        if sent.reply is None:
            assert sent.body in ("success", "")
        return sent.reply

    def location(self, label: str, gap: int = 60) -> str | None:
        self.t += gap
        self.sent += 1
        xml = (
            f"<xml><ToUserName><![CDATA[{self.wechat.sim.account}]]></ToUserName>"
            f"<FromUserName><![CDATA[{self.openid}]]></FromUserName><CreateTime>{self.t}</CreateTime>"
            "<MsgType><![CDATA[location]]></MsgType><Location_X>23.134521</Location_X>"
            f"<Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[{label}]]></Label>"
            f"<MsgId>{next(_msg_ids)}</MsgId></xml>"
        )
        return self.wechat.xml(xml).reply


def _state_key(app, openid: str) -> str:
    return f"{app.config['REDIS_NAMESPACE']}:converse:{openid}"


def _only_case(db) -> Case:
    db.expire_all()
    return db.execute(select(Case)).scalar_one()


def _last_out(db) -> Message:
    db.expire_all()
    newest_first = select(Message).where(Message.direction == Direction.OUT).order_by(Message.id.desc())
    return db.execute(newest_first).scalars().first()


def _local_date(value: dt.datetime) -> str:
    local = value.astimezone(dt.timezone(dt.timedelta(hours=8)))
    return f"{local.year}年{local.month}月{local.day}日"


# -- intake ------------------------------------------------------------------------------------


def test_vague_complaint_is_guided_to_a_case_in_five_turns(clean_app, wechat: WeChat, db):
    chat = Chat(wechat, "oGuided")
    assert "发生了什么事情" in chat.say("我要投诉")
    assert "具体地点" in chat.say("小区门口的垃圾堆满了，一直没有人来清理")
    assert "什么时候" in chat.say("幸福路88号幸福小区东门")
    assert "电话联系您" in chat.say("从上周开始")
    assert count(db, Case) == 0
    done = chat.say("13812345678")
    assert chat.sent == 5
    case = _only_case(db)
    assert case.case_type is CaseType.COMPLAINT and case.sla_amount == 15 and case.department == "urban_construction"
    assert case.summary.splitlines() == [
        "问题描述：小区门口的垃圾堆满了，一直没有人来清理",
        "发生地点：幸福路88号幸福小区东门",
        "发生时间：从上周开始",
        "是否回访：是",
        "回访电话：13812345678",
    ]
    # The confirmation names what was recorded and never quotes it back.
    assert done is not None and case.number in done and _local_date(case.due_at) in done
    assert "问题描述、发生地点、发生时间、回访电话" in done
    for said in ("垃圾", "幸福路", "上周", "1381234", "138****"):
        assert said not in done
    out = _last_out(db)
    assert (out.template_key, out.case_id, out.content) == ("intake_done", case.id, done)
    assert case.opening_message_id == out.in_reply_to_id
    assert services(clean_app).redis.get(_state_key(clean_app, "oGuided")) is None


def test_first_message_that_says_what_where_and_when_skips_those_questions(wechat: WeChat, db):
    chat = Chat(wechat, "oSkip")
    assert "电话联系您" in chat.say("幸福路88号门口的饭店油烟太大，每天晚上都这样")
    done = chat.say("不需要")
    case = _only_case(db)
    assert case.summary.splitlines() == [
        "问题描述：幸福路88号门口的饭店油烟太大，每天晚上都这样",
        "发生地点：幸福路88号",
        "发生时间：每天晚上",
        "是否回访：否",
    ]
    assert done is not None and "问题描述、发生地点、发生时间。" in done and case.number in done
    assert count(db, Message, Message.direction == Direction.IN) == 2


def test_a_complete_first_message_with_a_phone_number_is_filed_at_once(wechat: WeChat, db):
    done = Chat(wechat, "oComplete").say("幸福路88号的路灯坏了三个月没人修，回访请打13812345678")
    case = _only_case(db)
    assert done is not None and case.number in done and "回访电话" in done and "1381234" not in done
    assert "是否回访：是\n回访电话：13812345678" in case.summary


def test_bad_phone_number_is_asked_again(wechat: WeChat, db):
    chat = Chat(wechat, "oPhone")
    chat.say("幸福路88号的路灯坏了三个月没人修")
    assert "手机号码" in chat.say("需要")
    again = chat.say("12345")
    assert again is not None and "未能识别您回复的电话号码" in again
    assert _last_out(db).template_key == "intake_invalid_phone" and count(db, Case) == 0
    done = chat.say("138 1234 5678")
    assert done is not None and "回访电话" in done
    assert "回访电话：13812345678" in _only_case(db).summary


def test_a_wechat_location_answers_where(wechat: WeChat, db):
    chat = Chat(wechat, "oWhere")
    assert "微信位置" in chat.say("路灯坏了三个月没人修")
    assert "电话联系您" in chat.location("广州市天河区幸福路88号")
    chat.say("不用了")
    assert "发生地点：广州市天河区幸福路88号" in _only_case(db).summary


def test_cancel_clears_the_form_in_either_script(clean_app, wechat: WeChat, db):
    client = services(clean_app).redis
    for word in ("取消", "取消。"):
        chat = Chat(wechat, f"oCancel{len(word)}")
        chat.say("路灯坏了三个月没人修")
        assert client.get(_state_key(clean_app, chat.openid)) is not None
        reply = chat.say(word)
        assert reply is not None and "已取消" in reply and "未登记为诉求" in reply
        assert client.get(_state_key(clean_app, chat.openid)) is None
    # Afterwards a bare answer is no longer taken as part of a form.
    chat.say("好的")
    assert _last_out(db).template_key == "default"
    assert count(db, Case) == 0


def test_restart_clears_the_answers_and_asks_again_in_traditional(clean_app, wechat: WeChat, db):
    chat = Chat(wechat, "oRestart")
    chat.say("幸福路88号的路灯坏了三个月没人修")
    restarted = chat.say("重新開始")
    assert restarted is not None and "已清除" in restarted and "填寫的內容" in restarted
    assert "具体地点" in chat.say("小区门口垃圾没人清理")
    chat.say("幸福小区东门")
    chat.say("三天了")
    chat.say("不需要")
    summary = _only_case(db).summary
    assert "问题描述：小区门口垃圾没人清理" in summary and "路灯" not in summary


def test_idle_form_expires_after_thirty_minutes(clean_app, wechat: WeChat, db):
    client = services(clean_app).redis
    key = _state_key(clean_app, "oIdle")
    chat = Chat(wechat, "oIdle")
    chat.say("路灯坏了三个月没人修")
    assert 1790 <= client.ttl(key) <= 1800
    client.pexpire(key, 1)  # thirty minutes pass
    time.sleep(0.05)
    assert client.get(key) is None
    lapsed = chat.say("需要")
    assert lapsed is not None and "超过30分钟未继续" in lapsed
    assert _last_out(db).template_key == "intake_expired" and count(db, Case) == 0
    # Said once: the next chit-chat gets the ordinary default reply.
    chat.say("你好")
    assert _last_out(db).template_key == "default"


def test_a_burst_of_short_messages_is_one_answer_and_gets_one_prompt(wechat: WeChat, db):
    chat = Chat(wechat, "oBurst")
    assert "具体地点" in chat.say("小区门口的路灯坏了")
    assert chat.say("晚上特别黑", gap=2) is None
    assert chat.say("老人容易摔倒", gap=2) is None
    assert "什么时候" in chat.say("幸福路88号")
    assert chat.say("在东门旁边", gap=3) is None
    chat.say("一个月了")
    chat.say("不需要")
    summary = _only_case(db).summary
    assert "问题描述：小区门口的路灯坏了\n晚上特别黑\n老人容易摔倒" in summary
    assert "发生地点：幸福路88号\n在东门旁边" in summary
    assert count(db, Message, Message.direction == Direction.IN) == 7
    assert count(db, Message, Message.direction == Direction.OUT) == 4


def test_a_traditional_conversation_is_answered_in_traditional(wechat: WeChat, db):
    chat = Chat(wechat, "oTrad")
    first = chat.say("樓下飯店油煙太大，每天晚上都吵，投訴了好幾次沒人管")
    assert first is not None and "請告訴我們問題發生的具體地點" in first
    assert "電話聯繫您" in chat.say("幸福路88號")
    done = chat.say("不需要")  # nothing in it to tell the script by: the conversation's is used
    case = _only_case(db)
    assert done is not None and "受理編號" in done and case.number in done


def test_an_emergency_during_intake_goes_to_the_emergency_path(clean_app, wechat: WeChat, db):
    chat = Chat(wechat, "oEmergency")
    chat.say("路灯坏了三个月没人修")
    # A bare address is an answer, not an emergency (the model alone would flag it).
    assert "电话联系您" in chat.say("人民路")
    reply = chat.say("楼道里着火了好多烟")
    assert reply is not None and reply.startswith("请立即拨打119")
    case = _only_case(db)
    assert case.case_type is CaseType.EMERGENCY and case.is_urgent
    assert services(clean_app).redis.get(_state_key(clean_app, "oEmergency")) is None


def test_without_redis_a_complaint_is_filed_in_one_turn(clean_app, db):
    svc = services(clean_app)
    broken = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    msg = InboundMessage(kind="text", openid="oDown", account="gh", create_time=dt.datetime.now(dt.UTC),
                         dedup_key="m:991", msg_id=991, text="路灯坏了三个月没人修")  # fmt: skip
    with svc.message_sessions() as session:
        reply = svc.pipeline.process(msg, session, Claim("k", "t", None), redis=broken).reply
        session.commit()
    case = _only_case(db)
    assert reply is not None and reply.template_key == "complaint_ack" and case.number in reply.text
    assert case.summary == "路灯坏了三个月没人修"


# -- FAQ -----------------------------------------------------------------------------------------


def test_faq_answers_a_paraphrase_without_opening_a_case(wechat: WeChat, db):
    chat = Chat(wechat, "oFaq")
    for question in ("投诉电话是多少", "请问你们的投诉热线号码是多少？"):
        reply = chat.say(question)
        assert reply is not None and "12345" in reply
        assert _last_out(db).template_key == "faq_hotline"
    traditional = chat.say("身份證丟了怎麼補辦")
    assert traditional is not None and "臨時居民身份證" in traditional
    assert count(db, Case) == 0


def test_a_question_no_faq_answers_becomes_an_inquiry_case(wechat: WeChat, db):
    reply = Chat(wechat, "oAsk").say("请问残疾证怎么办理")
    case = _only_case(db)
    assert case.case_type is CaseType.INQUIRY and case.sla_amount == 2
    assert reply is not None and "您的咨询已收到" in reply and case.number in reply


def faq_figures(threshold: float = FAQ_THRESHOLD) -> tuple[float, float, int, int]:
    """Precision and recall of FAQ retrieval on the labelled paraphrases, at ``threshold``."""
    index = FaqIndex((t["key"], t.get("triggers", [])) for t in load_seed() if t["purpose"] == "faq")
    with (ROOT / "bot/training/data/faq_eval.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    answered = correct = 0
    for row in rows:
        match = index.best(row["text"])
        if match is not None and match.score >= threshold:
            answered += 1
            correct += match.key == row["expected"]
    positives = sum(1 for row in rows if row["expected"])
    return correct / answered, correct / positives, answered, len(rows)


def test_faq_retrieval_precision_and_recall_on_paraphrases():
    precision, recall, _, _ = faq_figures()
    assert precision >= 0.95 and recall >= 0.75, (precision, recall)


# -- status --------------------------------------------------------------------------------------


def test_status_shows_a_citizens_own_cases_and_never_anothers(wechat: WeChat, db):
    mine, theirs = Chat(wechat, "oMine"), Chat(wechat, "oTheirs")
    mine.say("建议在幸福路口增设一个红绿灯")
    theirs.say("建议小区门口增加公交站点")
    db.expire_all()
    my_case = db.execute(select(Case).where(Case.summary.contains("红绿灯"))).scalar_one()
    their_case = db.execute(select(Case).where(Case.summary.contains("公交站点"))).scalar_one()

    found = mine.say(f"查询 {my_case.number}")
    assert found is not None and my_case.number in found and "已受理" in found and _local_date(my_case.due_at) in found
    refused = mine.say(f"查詢{their_case.number}")
    missing = mine.say("查询 20990101999999")
    assert refused is not None and their_case.number not in refused
    assert refused == missing and _last_out(db).template_key == "status_not_found"

    listed = mine.say("我的诉求")
    assert listed is not None and my_case.number in listed and their_case.number not in listed
    assert "已受理" in listed and _local_date(my_case.due_at) in listed
    assert "沒有已登記的訴求" in (Chat(wechat, "oNobody").say("我的訴求") or "")


# -- the platform's auto-reply -------------------------------------------------------------------


def test_keyword_rules_equal_and_contain_but_never_over_an_emergency(wechat: WeChat, db):
    chat = Chat(wechat, "oKeyword")
    assert "您可以这样使用本账号" in chat.say("帮助")
    assert _last_out(db).template_key == "keyword_help"
    chat.say("帮助我查一下社保断缴了怎么补缴")  # not the whole message: no equal match
    assert _last_out(db).template_key != "keyword_help"
    assert "均由工作人员阅读处理" in chat.say("我想转人工客服")
    assert _last_out(db).template_key == "keyword_human"
    assert chat.say("转人工，楼道里着火了好多烟").startswith("请立即拨打119")


def test_default_reply_at_most_once_an_hour(clean_app, wechat: WeChat, db):
    chat = Chat(wechat, "oChat")
    assert "受理投诉" in chat.say("你好")
    assert chat.say("你好呀") is None
    assert count(db, Message, Message.direction == Direction.OUT) == 1
    assert count(db, Message, Message.direction == Direction.IN) == 2
    key = f"{clean_app.config['REDIS_NAMESPACE']}:default-reply:oChat"
    assert 3590 <= services(clean_app).redis.ttl(key) <= 3600
    services(clean_app).redis.delete(key)  # an hour passes
    assert "受理投诉" in chat.say("在吗")


def test_follow_gets_the_welcome(wechat: WeChat):
    reply = wechat.event("subscribe", openid="oFollower").reply
    assert reply is not None and "个人信息说明" in reply


@pytest.mark.parametrize("text", ["投诉电话是多少", "办公时间是几点"])
def test_faq_questions_are_answered_in_one_turn(wechat: WeChat, db, text):
    assert Chat(wechat, "oOneTurn").say(text) is not None
    assert _last_out(db).template_key.startswith("faq_") and count(db, Case) == 0
