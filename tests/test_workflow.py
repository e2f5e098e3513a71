"""The reply library's lifecycle: nothing reaches a citizen that a second person did not approve.

Rules are enforced in replies/ (not in a page): these tests call the domain functions directly,
on both backends, and then check what a citizen receives through /wechat.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.bootstrap import bump_generation
from bot.extensions import services
from models import Alert, AuditEntry, Direction, Message, ReplyTemplate, TemplateReview, TemplateStatus
from replies import authoring, workflow
from replies.library import Library, fill_seed_titles, load_seed
from replies.workflow import Actor, LibraryError, NotAllowed, WrongState
from tests.conftest import WeChat, count

ANN = Actor("ann", "10.0.0.1")  # operator: writes drafts
BOB = Actor("bob", "10.0.0.2")  # reviewer
CAT = Actor("cat", "10.0.0.3")  # second reviewer
DAN = Actor("dan", "10.0.0.4")  # final reviewer

GOOD = "您反映的问题已登记，受理编号：{case_number}，我们将于{deadline}前答复。"


def _key() -> str:
    return f"t_{uuid.uuid4().hex[:10]}"


def _new(db: Session, body: str = GOOD, purpose: str = "acknowledgement") -> workflow.TemplateVersion:
    key = _key()
    workflow.create_template(db, ANN, key, purpose)
    return workflow.draft(db, ANN, key, body)


def _published(db: Session, key: str) -> tuple[int, str] | None:
    lib = Library()
    p = lib.published(db, None).get(key)
    return (p.version, p.body) if p else None


def test_a_version_goes_from_draft_to_published_with_a_second_person(db: Session) -> None:
    ver = _new(db)
    key = ver.template.key
    assert ver.status is TemplateStatus.DRAFT and ver.version == 1
    assert _published(db, key) is None
    workflow.submit(db, ANN, ver)
    assert ver.status is TemplateStatus.IN_REVIEW
    workflow.approve(db, BOB, ver, comment="语气得体")
    assert ver.status is TemplateStatus.APPROVED and ver.approved_by == "bob"
    change = workflow.publish(db, BOB, ver)
    assert change.library_changed
    assert _published(db, key) == (1, GOOD)
    actions = db.scalars(select(AuditEntry.action).where(AuditEntry.target.like(f"{key}%")).order_by(AuditEntry.id))
    assert list(actions) == ["template.create", "template.draft", "template.submit", "template.approve",
                             "template.publish"]


def test_the_author_can_never_approve_their_own_version(db: Session) -> None:
    ver = _new(db)
    workflow.submit(db, ANN, ver)
    with pytest.raises(NotAllowed, match="自己"):
        workflow.approve(db, ANN, ver)
    with pytest.raises(NotAllowed):
        workflow.reject(db, ANN, ver, "自己退回自己")
    assert ver.status is TemplateStatus.IN_REVIEW


def test_only_the_author_submits_and_nothing_skips_review(db: Session) -> None:
    ver = _new(db)
    with pytest.raises(NotAllowed):
        workflow.submit(db, BOB, ver)
    with pytest.raises(WrongState):
        workflow.approve(db, BOB, ver)  # still a draft
    with pytest.raises(WrongState):
        workflow.publish(db, BOB, ver)
    assert _published(db, ver.template.key) is None


def test_three_level_review_needs_three_different_reviewers(db: Session) -> None:
    purpose = f"p{uuid.uuid4().hex[:6]}"
    workflow.set_review_levels(db, DAN, purpose, 3)
    ver = _new(db, purpose=purpose)
    workflow.submit(db, ANN, ver)
    assert ver.review_levels == 3
    workflow.approve(db, BOB, ver)
    assert ver.status is TemplateStatus.IN_REVIEW
    with pytest.raises(NotAllowed, match="不同的人"):
        workflow.approve(db, BOB, ver)
    workflow.approve(db, CAT, ver)
    assert ver.status is TemplateStatus.IN_REVIEW
    with pytest.raises(WrongState):
        workflow.publish(db, CAT, ver)
    workflow.approve(db, DAN, ver)
    assert ver.status is TemplateStatus.APPROVED
    levels = db.scalars(select(TemplateReview.level).where(TemplateReview.version_id == ver.id)).all()
    assert sorted(levels) == [1, 2, 3]


def test_a_rejection_needs_a_comment_and_ends_the_version(db: Session) -> None:
    ver = _new(db)
    workflow.submit(db, ANN, ver)
    with pytest.raises(LibraryError, match="意见"):
        workflow.reject(db, BOB, ver, "  ")
    workflow.reject(db, BOB, ver, "请写明答复时限")
    assert ver.status is TemplateStatus.REJECTED
    assert ver.reviews[-1].comment == "请写明答复时限"
    with pytest.raises(WrongState):
        workflow.approve(db, CAT, ver)
    second = workflow.draft(db, ANN, ver.template.key, GOOD + "如有疑问请回复本账号。")
    assert second.version == 2


def test_versions_are_immutable(db: Session) -> None:
    ver = _new(db)
    ver.body = "改过的内容"
    with pytest.raises(WrongState, match="不可修改"):
        db.flush()
    db.rollback()


def test_publishing_retires_the_old_version_and_rollback_republishes_it(db: Session) -> None:
    v1 = _new(db)
    key = v1.template.key
    for ver in (v1,):
        workflow.submit(db, ANN, ver)
        workflow.approve(db, BOB, ver)
        workflow.publish(db, BOB, ver)
    v2 = workflow.draft(db, ANN, key, "您的诉求已登记，受理编号：{case_number}，答复时限：{deadline}。")
    workflow.submit(db, ANN, v2)
    workflow.approve(db, BOB, v2)
    workflow.publish(db, BOB, v2)
    assert v1.status is TemplateStatus.RETIRED and v2.status is TemplateStatus.PUBLISHED
    assert _published(db, key)[0] == 2  # type: ignore[index]
    workflow.publish(db, BOB, v1)  # rollback
    assert v1.status is TemplateStatus.PUBLISHED and v2.status is TemplateStatus.RETIRED
    assert _published(db, key)[0] == 1  # type: ignore[index]
    rollbacks = db.scalars(select(AuditEntry).where(AuditEntry.action == "template.rollback",
                                                    AuditEntry.target == f"{key}@1")).all()
    assert len(rollbacks) == 1 and rollbacks[0].actor == "bob" and rollbacks[0].source == "10.0.0.2"


def test_a_never_published_version_cannot_be_rolled_back_to(db: Session) -> None:
    ver = _new(db)
    workflow.submit(db, ANN, ver)
    workflow.approve(db, BOB, ver)
    workflow.retire(db, BOB, ver)
    with pytest.raises(WrongState, match="从未发布"):
        workflow.publish(db, BOB, ver)


def test_flagged_text_needs_a_recorded_reason_to_pass_review(db: Session) -> None:
    # "近期" here is advice, not a promise: a reviewer may accept the finding, with a reason.
    ver = _new(db, "近期天气多变，请您注意防范。受理编号：{case_number}。")
    workflow.submit(db, ANN, ver)
    assert [f["rule"] for f in workflow.findings(ver)] == ["vague_promise"]
    with pytest.raises(NotAllowed, match="理由"):
        workflow.approve(db, BOB, ver)
    workflow.approve(db, BOB, ver, accept={"vague_promise": "此处为天气提示，并非办理时限承诺"})
    assert ver.status is TemplateStatus.APPROVED
    [override] = workflow.overrides(ver)
    assert override["rule"] == "vague_promise" and override["by"] == "bob" and "天气" in override["reason"]
    workflow.publish(db, BOB, ver)
    # The render-time check honours the recorded acceptance for this version only.
    lib = Library()
    rendered = lib.render(db, ver.template.key, {"case_number": "2026112700001"})
    assert not rendered.is_fallback and rendered.text.startswith("近期天气多变")


def test_personal_data_can_never_be_accepted(db: Session) -> None:
    ver = _new(db, "如需帮助请拨打13812345678联系经办人。")
    workflow.submit(db, ANN, ver)
    assert "personal_data" in {f["rule"] for f in workflow.findings(ver)}
    with pytest.raises(NotAllowed, match="不能通过审核"):
        workflow.approve(db, BOB, ver, accept={"personal_data": "经办人同意公开"})
    assert ver.status is TemplateStatus.IN_REVIEW


def test_insulting_text_is_flagged_at_submit(db: Session) -> None:
    ver = _new(db, "你不说话没人把你当哑巴。")
    workflow.submit(db, ANN, ver)
    assert workflow.findings(ver), "an incident text must not reach review unflagged"
    with pytest.raises(NotAllowed):
        workflow.approve(db, BOB, ver)


def test_the_safe_fallback_cannot_be_switched_off(db: Session) -> None:
    with pytest.raises(NotAllowed):
        workflow.set_template_enabled(db, DAN, "safe_fallback", False, "测试")


# -- what a citizen receives --------------------------------------------------------------------


@pytest.fixture
def restore_library(clean_app: Flask) -> Iterator[Flask]:
    """Undo kill switches and template changes a test made to the shared library."""
    yield clean_app
    with services(clean_app).sessions() as session:
        workflow.set_automatic_replies(session, DAN, True, "测试结束恢复")
        workflow.set_template_enabled(session, DAN, "default", True, "测试结束恢复")
        session.commit()
    bump_generation(clean_app)


def _fallback_text(app: Flask) -> str:
    with services(app).sessions() as session:
        return Library().published(session, None)["safe_fallback"].body


def test_kill_switch_sends_only_the_safe_fallback_everywhere_at_once(restore_library: Flask, wechat: WeChat) -> None:
    app = restore_library
    before = wechat.text("你好", openid="oKillSwitch00000000000000001")
    assert before.reply and before.reply != _fallback_text(app)
    with services(app).sessions() as session:
        workflow.set_automatic_replies(session, DAN, False, "第三方接口维护，暂停自动回复")
        session.commit()
    bump_generation(app)
    after = wechat.text("我家门口的路灯坏了三天了", openid="oKillSwitch00000000000000002")
    assert after.reply == _fallback_text(app)
    with services(app).sessions() as session:
        # Switching off is not an incident: no alert per message, but the outbound row names the fallback.
        assert count(session, Alert, Alert.kind == "reply_fallback") == 0
        row = session.scalars(select(Message).where(Message.direction == Direction.OUT)
                              .order_by(Message.id.desc())).first()
        assert row is not None and row.template_key == "safe_fallback"
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "library.kill_switch")
                                .order_by(AuditEntry.id.desc())).first()
        assert entry is not None and entry.actor == "dan" and "维护" in entry.detail


def test_a_disabled_template_is_replaced_by_the_fallback_and_supervisors_alerted(
    restore_library: Flask, wechat: WeChat
) -> None:
    app = restore_library
    with services(app).sessions() as session:
        workflow.set_template_enabled(session, DAN, "default", False, "措辞待修改")
        session.commit()
    bump_generation(app)
    sent = wechat.text("你好", openid="oDisabledTpl0000000000000001")
    assert sent.reply == _fallback_text(app)
    with services(app).sessions() as session:
        alerts = session.scalars(select(Alert.detail).where(Alert.kind == "reply_fallback")).all()
        assert any("default" in a for a in alerts)


def test_traditional_writers_get_the_approved_text_in_traditional(clean_app: Flask, wechat: WeChat) -> None:
    sent = wechat.text("請問這個公眾號可以做什麼", openid="oTraditional000000000000001")
    assert sent.reply
    assert "您" in sent.reply
    # Simplified-only forms of common words in the seed never reach a Traditional writer.
    for simplified in ("们", "这", "请", "号", "为"):
        assert simplified not in sent.reply, sent.reply
    with services(clean_app).sessions() as session:
        row = session.scalars(select(Message).where(Message.direction == Direction.OUT)).first()
        assert row is not None and row.content == sent.reply


def test_simplified_writers_get_simplified(clean_app: Flask, wechat: WeChat) -> None:
    sent = wechat.text("请问这个公众号可以做什么", openid="oSimplified00000000000000001")
    assert sent.reply and "們" not in sent.reply and "請" not in sent.reply


def test_template_history_is_recorded_in_order(db: Session) -> None:
    ver = _new(db)
    workflow.submit(db, ANN, ver)
    workflow.reject(db, BOB, ver, "措辞生硬")
    entries = db.scalars(select(AuditEntry).where(AuditEntry.target == f"{ver.template.key}@1")
                         .order_by(AuditEntry.id)).all()
    assert [(e.actor, e.action) for e in entries] == [("ann", "template.draft"), ("ann", "template.submit"),
                                                      ("bob", "template.reject")]
    assert json.loads(ver.findings) == []


# -- authors and reviewers: starting points, withdrawal, parallel versions, per-finding reasons -------------

TWO_VAGUE = "近期天气多变，请注意防范；即将入汛，请检查门窗。受理编号：{case_number}。"


def _through(db: Session, ver: workflow.TemplateVersion, *, publish: bool = True) -> None:
    workflow.submit(db, ANN, ver)
    workflow.approve(db, BOB, ver)
    if publish:
        workflow.publish(db, BOB, ver)


def test_a_new_version_starts_from_the_live_one_not_from_a_newer_rejected_one(db: Session) -> None:
    v1 = _new(db)
    tpl = v1.template
    assert authoring.starting_point(tpl) is v1  # nothing live or approved yet: the latest
    _through(db, v1)
    v2 = workflow.draft(db, ANN, tpl.key, GOOD + "（第二稿）")
    workflow.submit(db, ANN, v2)
    workflow.reject(db, BOB, v2, "第二稿措辞生硬")
    db.refresh(tpl)
    assert authoring.starting_point(tpl) is v1
    reason = authoring.rejection(v2)
    assert reason is not None and reason.comment == "第二稿措辞生硬" and reason.reviewer == "bob"
    assert authoring.rejection(v1) is None
    workflow.retire(db, BOB, v1)  # nothing live: the latest approved, else the latest
    v3 = workflow.draft(db, ANN, tpl.key, GOOD + "（第三稿）")
    _through(db, v3, publish=False)
    db.refresh(tpl)
    assert authoring.starting_point(tpl) is v3


def test_the_author_withdraws_a_version_in_review_and_resubmits_it(db: Session) -> None:
    purpose = f"p{uuid.uuid4().hex[:6]}"
    workflow.set_review_levels(db, DAN, purpose, 2)
    ver = _new(db, TWO_VAGUE, purpose=purpose)
    workflow.submit(db, ANN, ver)
    workflow.approve(db, BOB, ver, reasons={0: "天气提示", 1: "汛期提示"})
    assert workflow.approvals(ver) == 1
    with pytest.raises(NotAllowed, match="作者本人"):
        workflow.withdraw(db, BOB, ver)
    workflow.withdraw(db, ANN, ver)
    assert ver.status is TemplateStatus.DRAFT and ver.submitted_at is None
    assert workflow.overrides(ver) == []  # the reasons were for the withdrawn submission
    with pytest.raises(WrongState, match="待审核"):
        workflow.withdraw(db, ANN, ver)
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "template.withdraw")
                       .order_by(AuditEntry.id.desc())).first()
    assert entry is not None and entry.actor == "ann" and entry.target == f"{ver.template.key}@1"
    assert "approved_levels=1" in entry.detail and "天气提示" in entry.detail
    # Resubmitted, the review starts again at level 1: the earlier approval does not count.
    workflow.submit(db, ANN, ver)
    assert workflow.approvals(ver) == 0
    with pytest.raises(NotAllowed, match="理由"):
        workflow.approve(db, BOB, ver)
    workflow.approve(db, BOB, ver, reasons={0: "天气提示", 1: "汛期提示"})
    assert ver.status is TemplateStatus.IN_REVIEW
    workflow.approve(db, CAT, ver)
    assert ver.status is TemplateStatus.APPROVED


def test_each_finding_of_one_rule_keeps_its_own_reason(db: Session) -> None:
    ver = _new(db, TWO_VAGUE)
    workflow.submit(db, ANN, ver)
    assert [f["rule"] for f in workflow.findings(ver)] == ["vague_promise", "vague_promise"]
    with pytest.raises(NotAllowed, match="即将"):
        workflow.approve(db, BOB, ver, reasons={0: "近期是天气提示"})  # the second finding has no reason
    workflow.approve(db, BOB, ver, reasons={0: "近期是天气提示", 1: "即将入汛是季节提示"})
    kept = workflow.overrides(ver)
    assert [(o["text"], o["reason"]) for o in kept] == [("近期", "近期是天气提示"), ("即将", "即将入汛是季节提示")]
    assert workflow.accepted_findings(ver) == {0, 1}


def test_a_rule_wide_reason_still_covers_every_finding_of_that_rule(db: Session) -> None:
    ver = _new(db, TWO_VAGUE)
    workflow.submit(db, ANN, ver)
    workflow.approve(db, BOB, ver, accept={"vague_promise": "均为提示，并非办理时限"})
    assert [o["reason"] for o in workflow.overrides(ver)] == ["均为提示，并非办理时限"] * 2


def test_two_versions_in_review_are_listed_and_an_older_one_cannot_replace_a_newer_live_one(db: Session) -> None:
    v1 = _new(db)
    key = v1.template.key
    v2 = workflow.draft(db, ANN, key, GOOD + "如有疑问请回复本账号。")
    workflow.submit(db, ANN, v1)
    workflow.submit(db, ANN, v2)
    db.refresh(v1.template)
    assert authoring.pending_versions(v1.template) == [v1, v2]
    workflow.approve(db, BOB, v1)
    workflow.approve(db, BOB, v2)
    workflow.publish(db, BOB, v2)
    assert workflow.older_than_live(db, v1) is v2
    with pytest.raises(WrongState, match="早于正在发布的第2版"):
        workflow.publish(db, BOB, v1)
    assert v1.status is TemplateStatus.APPROVED and v2.status is TemplateStatus.PUBLISHED
    # The rollback path is unchanged: a version published before may be republished.
    v3 = workflow.draft(db, ANN, key, GOOD + "感谢您的监督。")
    _through(db, v3)
    workflow.publish(db, BOB, v2)
    assert v2.status is TemplateStatus.PUBLISHED and v3.status is TemplateStatus.RETIRED
    assert _published(db, key) == (2, GOOD + "如有疑问请回复本账号。")


def test_decisions_on_an_authors_versions_are_listed_since_a_moment(db: Session) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    approved, rejected, waiting = _new(db), _new(db), _new(db)
    _through(db, approved, publish=False)
    workflow.submit(db, ANN, rejected)
    workflow.reject(db, CAT, rejected, "请补充办理渠道")
    workflow.submit(db, ANN, waiting)
    found = {d.version.id: d for d in authoring.decisions_for(db, "ann", before)}
    assert set(found) >= {approved.id, rejected.id} and waiting.id not in found
    assert found[approved.id].approved and found[approved.id].reviewer == "bob"
    assert not found[rejected.id].approved and found[rejected.id].comment == "请补充办理渠道"
    assert authoring.decisions_for(db, "ann", dt.datetime.now(dt.UTC)) == []
    assert authoring.decisions_for(db, "bob", before) == []


def test_titles_are_checked_and_a_change_is_audited(db: Session) -> None:
    key = _key()
    with pytest.raises(LibraryError, match="名称"):
        workflow.create_template(db, ANN, key, "faq", title="  ")
    tpl = workflow.create_template(db, ANN, key, "faq", title="常见问题： 办事 指南")
    assert tpl.title == "常见问题： 办事 指南"
    workflow.set_title(db, ANN, key, "常见问题：办事指南")
    workflow.set_title(db, ANN, key, "常见问题：办事指南")  # unchanged: nothing to audit
    entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "template.title",
                                                  AuditEntry.target == key)).all()
    assert [e.detail for e in entries] == ["常见问题： 办事 指南 → 常见问题：办事指南"]
    with pytest.raises(LibraryError):
        workflow.set_title(db, ANN, key, "名" * 81)


def test_every_seed_template_has_a_title_and_init_db_fills_missing_ones(db: Session) -> None:
    seed = load_seed()
    assert all(item.get("title") for item in seed)
    assert len({item["title"] for item in seed}) == len(seed), "titles tell templates apart"
    titles = {key: title for key, title in db.execute(select(ReplyTemplate.key, ReplyTemplate.title))}
    assert all(titles[item["key"]] == item["title"] for item in seed)
    # A database seeded before titles existed; one title was since chosen by staff and stays.
    db.execute(update(ReplyTemplate).where(ReplyTemplate.key.in_(["welcome", "faq_hotline"])).values(title=None))
    db.execute(update(ReplyTemplate).where(ReplyTemplate.key == "default").values(title="默认回复（本单位）"))
    assert fill_seed_titles(db) == 2
    db.expire_all()
    titles = {key: title for key, title in db.execute(select(ReplyTemplate.key, ReplyTemplate.title))}
    assert titles["welcome"] == "关注欢迎语" and titles["faq_hotline"] == "常见问题：服务热线"
    assert titles["default"] == "默认回复（本单位）"
    assert fill_seed_titles(db) == 0
