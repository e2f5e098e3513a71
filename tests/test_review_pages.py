"""The review pages through Flask's test client, as the role that meets each point, on both backends.

Issue 18, item 5: the editor says which version it starts from; an author has "我的版本" and a notice
on the home page; an author withdraws a version in review; two versions waiting side by side are
flagged; an older approved version cannot be published over a newer live one; the review-levels
page lists case answers; every finding has its own reason box; templates carry Chinese titles; a
template's page shows its live text and triggers; the library can be searched.
"""
from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from bot.extensions import services
from models import AuditEntry, TemplateStatus
from replies import workflow
from tests import test_console
from tests.test_console import token

accounts = test_console.accounts  # the console's accounts, one per role (a session fixture)

BODY = "您反映的问题（受理编号：{case_number}）已转交{department}办理，我们将于{date}前告知结果。"
TWO_VAGUE = "近期天气多变，请注意防范；即将入汛，请检查门窗。受理编号：{case_number}。"


@pytest.fixture
def signed_in(clean_app: Flask, accounts: dict[str, str]) -> Any:
    """``signed_in("reviewer")`` → a test client signed in with that role's account."""
    return lambda role: test_console.login(clean_app, accounts.get(role, role))


def _post(client: FlaskClient, url: str, **data: str) -> Any:
    return client.post(url, data={**data, "csrf_token": token(client, "/console/")})


def _create(client: FlaskClient, body: str = BODY, *, title: str = "", purpose: str = "answer",
            submit: bool = True, **extra: str) -> str:
    key = f"t_rv_{uuid.uuid4().hex[:8]}"
    data = {"key": key, "title": title or f"诉求答复测试{key[-4:]}", "purpose": purpose, "body": body, **extra}
    if submit:
        data["submit_now"] = "1"
    resp = _post(client, "/console/library/new", **data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    return key


def _page(client: FlaskClient, url: str) -> str:
    resp = client.get(url)
    assert resp.status_code == 200, url
    return resp.get_data(as_text=True)


def _flashes(resp: Any) -> str:
    return " ".join(re.findall(r'<p class="flash[^"]*" role="status">(.*?)</p>', resp.get_data(as_text=True), re.S))


def _retire_all(app: Flask, key: str) -> None:
    """Keep the shared library as the seed left it (a published test template could answer other tests)."""
    with services(app).sessions() as session:
        for ver in workflow.template(session, key).versions:
            if ver.status in (TemplateStatus.PUBLISHED, TemplateStatus.APPROVED):
                workflow.retire(session, workflow.Actor("t_rev"), ver)
        session.commit()


def test_the_editor_starts_from_the_live_version_and_says_so(clean_app: Flask, signed_in: Any) -> None:
    op, rev = signed_in("operator"), signed_in("reviewer")
    page = _page(op, "/console/library/faq_office_hours/edit")
    assert "以第1版（已发布）为底稿" in page and "这是群众目前收到的文本" in page
    key = _create(op)
    _post(rev, f"/console/library/{key}/v/1/approve")
    page = _page(op, f"/console/library/{key}/edit")
    assert "以第1版（已通过）为底稿" in page and "没有已发布的版本" in page
    _post(rev, f"/console/library/{key}/v/1/publish")
    _post(op, f"/console/library/{key}/edit", body=BODY + "如有疑问请回复本账号。", submit_now="1")
    _post(rev, f"/console/library/{key}/v/2/reject", comment="不要加这句")
    page = _page(op, f"/console/library/{key}/edit")
    # The live text, not the rejected one; the rejection is named with its reason and can be chosen.
    assert "以第1版（已发布）为底稿" in page and "如有疑问请回复本账号" not in page.split("<textarea")[1]
    assert "最新的第2版已被退回" in page and "不要加这句" in page and f"/console/library/{key}/edit?from=2" in page
    page = _page(op, f"/console/library/{key}/edit?from=2")
    assert "以第2版（已退回）为底稿" in page and "此第2版已被退回" in page and "如有疑问请回复本账号" in page
    _retire_all(clean_app, key)


def test_a_new_template_needs_a_chinese_title_and_shows_it_first(clean_app: Flask, signed_in: Any) -> None:
    op, rev = signed_in("operator"), signed_in("reviewer")
    resp = _post(op, "/console/library/new", key=f"t_rv_{uuid.uuid4().hex[:8]}", purpose="answer", body=BODY)
    assert resp.status_code == 400 and "请填写模板名称" in resp.get_data(as_text=True)
    key = _create(op, title="诉求答复：转交办理")
    for page in (_page(op, "/console/library"), _page(rev, "/console/review"), _page(op, f"/console/library/{key}"),
                 _page(op, f"/console/library/{key}/v/1")):
        assert "诉求答复：转交办理" in page
        assert page.index("诉求答复：转交办理") < page.index(f'muted">{key}'), "the title comes before the key"
    queue = _page(rev, "/console/review")
    assert "诉求答复" in queue and ">answer<" not in queue  # purposes in Chinese
    resp = _post(op, f"/console/library/{key}/title", title="诉求答复：已转交")
    assert resp.status_code == 302
    with services(clean_app).sessions() as session:
        assert workflow.template(session, key).title == "诉求答复：已转交"
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "template.title",
                                                        AuditEntry.target == key))
        assert entry is not None and entry.actor == "t_op" and entry.detail == "诉求答复：转交办理 → 诉求答复：已转交"
    assert "修改模板名称" in _page(op, f"/console/library/{key}")
    assert _post(rev, f"/console/library/{key}/title", title="审核员改名").status_code == 403


def test_my_versions_withdrawal_and_the_home_notice(clean_app: Flask, signed_in: Any) -> None:
    op, rev = signed_in("operator"), signed_in("reviewer")
    _post(op, "/console/my/versions/seen")  # earlier tests' decisions are not this test's news
    waiting, rejected, draft = _create(op), _create(op), _create(op, submit=False)
    _post(rev, f"/console/library/{rejected}/v/1/reject", comment="请写明承办部门的联系方式")
    page = _page(op, "/console/my/versions")
    for key, section in ((rejected, "my-rejected"), (waiting, "my-in-review"), (draft, "my-drafts")):
        table = page.split(f'id="{section}"')[1].split("</table>")[0]
        assert key in table, section
    assert "请写明承办部门的联系方式" in page
    # The home page names the rejection and its reason until the author says 知道了.
    home = _page(op, "/console/")
    assert 'id="review-notices"' in home and "被退回" in home and "请写明承办部门的联系方式" in home
    assert _post(op, "/console/my/versions/seen", back="home").headers["Location"].endswith("/console/")
    assert 'id="review-notices"' not in _page(op, "/console/")
    # Withdrawing: the author only, back to draft, audited; then resubmitted.
    assert "撤回" in _page(op, f"/console/library/{waiting}/v/1")
    assert _post(rev, f"/console/library/{waiting}/v/1/withdraw").status_code == 403
    resp = _post(op, f"/console/library/{waiting}/v/1/withdraw")
    assert resp.status_code == 302
    with services(clean_app).sessions() as session:
        assert workflow.version(session, waiting, 1).status is TemplateStatus.DRAFT
        assert session.scalar(select(AuditEntry.actor).where(AuditEntry.action == "template.withdraw",
                                                             AuditEntry.target == f"{waiting}@1")) == "t_op"
    assert "撤回审核" in _page(op, f"/console/library/{waiting}")  # the history names the action in Chinese
    _post(op, f"/console/library/{waiting}/v/1/submit")
    _post(rev, f"/console/library/{waiting}/v/1/approve")
    home = _page(op, "/console/")
    assert "已通过审核" in home and waiting in home
    # Other roles never see an author's notice, and 我的版本 is an author's page.
    assert 'id="review-notices"' not in _page(rev, "/console/")
    assert rev.get("/console/my/versions").status_code == 403
    _retire_all(clean_app, waiting)


def test_two_pending_versions_are_flagged_and_the_older_cannot_be_published_over_the_newer(
    clean_app: Flask, signed_in: Any
) -> None:
    op, rev = signed_in("operator"), signed_in("reviewer")
    key = _create(op)
    resp = _post(op, f"/console/library/{key}/edit", body=BODY + "感谢您的监督。", submit_now="1")
    assert "第1版也在待审核" in _flashes(op.get(resp.headers["Location"]))
    queue = _page(rev, "/console/review")
    row = queue.split(f"{key}</small>")[1].split("</tr>")[0]
    assert "也在待审核" in row
    assert 'id="two-pending"' in _page(rev, f"/console/library/{key}/v/1")
    _post(rev, f"/console/library/{key}/v/1/approve")
    _post(rev, f"/console/library/{key}/v/2/approve")
    _post(rev, f"/console/library/{key}/v/2/publish")
    page = _page(rev, f"/console/library/{key}/v/1")
    assert 'id="older-than-live"' in page and 'id="publish"' not in page
    resp = _post(rev, f"/console/library/{key}/v/1/publish")
    assert "早于正在发布的第2版" in _flashes(rev.get(resp.headers["Location"]))
    with services(clean_app).sessions() as session:
        assert workflow.version(session, key, 1).status is TemplateStatus.APPROVED
        assert workflow.version(session, key, 2).status is TemplateStatus.PUBLISHED
    _retire_all(clean_app, key)


def test_each_finding_gets_its_own_reason_box_and_every_reason_is_kept(clean_app: Flask, signed_in: Any) -> None:
    op, rev = signed_in("operator"), signed_in("reviewer")
    key = _create(op, TWO_VAGUE, purpose="notice")
    page = _page(rev, f"/console/library/{key}/v/1")
    assert re.findall(r'name="(accept_[^"]+)"', page) == ["accept_0", "accept_1"]
    assert "模糊时限" in page and "vague_promise" not in page
    resp = _post(rev, f"/console/library/{key}/v/1/approve", accept_0="近期是天气提示")
    assert "即将" in _flashes(rev.get(resp.headers["Location"]))  # the second reason is missing
    _post(rev, f"/console/library/{key}/v/1/approve", accept_0="近期是天气提示", accept_1="即将入汛是季节提示")
    with services(clean_app).sessions() as session:
        ver = workflow.version(session, key, 1)
        assert ver.status is TemplateStatus.APPROVED
        assert [o["reason"] for o in workflow.overrides(ver)] == ["近期是天气提示", "即将入汛是季节提示"]
    page = _page(rev, f"/console/library/{key}/v/1")
    assert "近期是天气提示" in page and "即将入汛是季节提示" in page
    _retire_all(clean_app, key)


def test_review_levels_page_lists_case_answers(clean_app: Flask, signed_in: Any) -> None:
    adm = signed_in("admin")
    page = _page(adm, "/console/library/settings")
    assert 'id="levels-answer"' in page and "诉求页面" in page
    assert _post(adm, "/console/library/settings", purpose="answer", levels="2").status_code == 302
    with services(clean_app).sessions() as session:
        assert workflow.review_levels(session, "answer") == 2
        workflow.set_review_levels(session, workflow.Actor("t_adm"), "answer", 1)
        session.commit()


def test_a_templates_page_shows_its_live_text_and_triggers(clean_app: Flask, signed_in: Any) -> None:
    page = _page(signed_in("supervisor"), "/console/library/keyword_human")
    live = page.split('id="live"')[1].split("</section>")[0]
    assert 'id="live-body"' in live and "第1版" in live and "人工" in live
    assert "关键词，匹配方式：" in live and 'class="badge"' in live
    faq = _page(signed_in("supervisor"), "/console/library/faq_office_hours")
    assert "触发问题" in faq and "办公时间" in faq.split('id="live-triggers"')[1]


def test_the_library_is_searched_by_title_key_live_text_and_triggers(clean_app: Flask, signed_in: Any) -> None:
    sup = signed_in("supervisor")

    def found(q: str) -> list[str]:
        page = _page(sup, f"/console/library?q={q}")
        table = page.split('id="library-list"')[1]
        return re.findall(r'<small class="muted">([a-z0-9_.-]+)</small>', table)

    assert "faq_office_hours" in found("办公时间")  # title
    assert "faq_office_hours" in found("faq_office")  # key
    assert "keyword_human" in found("人工")  # trigger or text
    assert found("公积金 提取") == ["faq_housing_fund"]  # every word, anywhere
    assert found("没有这样的模板xyz") == []
    assert "没有符合条件的模板" in _page(sup, "/console/library?q=没有这样的模板xyz")
    assert sup.get("/console/library?status=bogus").status_code == 400
