"""The reply guard as a reviewer and a citizen meet it: what is refused, what passes, and why."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import opencc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replies import guard
from replies.guard import check_template, check_text
from replies.library import guard_preview, load_seed
from tests.conftest import ROOT, shared_path

INCIDENTS = [
    "你不说话没人把你当哑巴",
    "我仿佛听见了一群蚊子在嗡嗡嗡",
    "面子是别人给的，脸是自己丢的",
    "如果对此有不满，建议另谋高就",
    "家里人又违法了吧？找公安的茬",
]
_S2T = opencc.OpenCC("s2t")


def rules(text: str, **kwargs: object) -> set[str]:
    return {v.rule for v in check_text(text, **kwargs)}  # type: ignore[arg-type]


@pytest.mark.parametrize("text", INCIDENTS)
def test_policy_incidents_are_refused_in_both_scripts(text):
    assert rules(text) & guard.TONE_RULES, text
    traditional = _S2T.convert(text)
    assert traditional != text
    assert rules(traditional) & guard.TONE_RULES, traditional


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("不归我们管，你找别人", "dismissive"),
        ("爱咋咋地，我们管不了", "dismissive"),
        ("呵呵，您可真行", "sarcastic"),
        ("再闹就后果自负", "threatening"),
        ("亲，小编已经收到啦，么么哒", "flippant"),
        ("人家也很忙的嘛，不要催啦", "flippant"),
        ("你这种刁民我们见多了", "offensive"),
    ],
)
def test_each_kind_of_tone_has_its_rule(text, rule):
    assert rule in rules(text)
    assert rule in rules(_S2T.convert(text))


def test_violation_carries_rule_span_and_chinese_message():
    text = "您好，不归我们管，你找别人。"
    found = [v for v in check_text(text) if v.rule == "dismissive"]
    assert found
    start, end = found[0].span
    assert text[start:end] in ("不归我们管", "你找别人")
    assert "推诿" in found[0].message


def test_dodging_the_word_list_with_spaces_or_full_width_letters_does_not_work():
    assert "offensive" in rules("你不说话没人把你当 哑 * 巴")
    v = next(v for v in check_text("真是个ＳＢ") if v.rule == "offensive")
    assert v.span == (3, 5)


def test_quoting_the_citizen_is_not_insulting_them():
    assert check_text("关于您反映工作人员说'找茬'的问题，我们已约谈当事人并责令整改。") == []
    assert check_text("您说的'哑巴'一事我们已核实，涉事人员已停岗接受调查。") == []
    assert check_text("您反映窗口人员称“爱咋咋地”，经调查属实，已对其批评教育，现向您致歉。") == []
    assert check_text(_S2T.convert("您说的「哑巴」一事我们已核实。")) == []


def test_an_insult_merely_wrapped_in_quotes_still_fails():
    assert "offensive" in rules("“哑巴”，说的就是你")
    assert "dismissive" in rules("“另谋高就”是我们给你的建议")
    # The account speaking for itself is not reported speech.
    assert "offensive" in rules("我们认为“你就是刁民”")


def test_innocent_uses_of_dangerous_words_pass():
    for text in [
        "垃圾分类投放点已增设至每栋楼下，厨余垃圾每日清运两次。",
        "市精神病院门诊时间为周一至周五8:00-17:00。",
        "申请人的直系亲属可以代办，区长亲自带队到现场查看。",
        "停水通知已在区融媒体中心滚动播出。",
        "夏季蚊虫孳生，街道已组织消杀，减少蚊子滋生。",
        "聋哑人办理残疾证可由监护人代办。",
    ]:
        assert check_text(text) == [], text


def test_vague_promise_needs_a_concrete_date_or_deadline():
    assert "vague_promise" in rules("我们会尽快为您处理的")
    assert "vague_promise" in rules(_S2T.convert("相关部门近期将进行整改"))
    assert "vague_promise" not in rules("我们将尽快处理，并于12月18日前答复您。")
    assert "vague_promise" not in rules("我们会尽快安排，3个工作日内给您答复。")
    assert "vague_promise" not in rules("我们会尽快为您处理的", has_deadline=True)
    # Not a promise: nothing is planned, or the citizen is asked to hurry.
    assert "vague_promise" not in rules("目前暂无近期调整计划。")
    assert "vague_promise" not in rules("请您尽快携带材料到窗口办理。")


def test_office_landline_passes_while_a_mobile_fails():
    assert check_text("如有疑问请拨打区政务服务中心电话0755-12345678，或拨打12345热线。") == []
    assert "personal_data" in rules("请联系经办人，手机13812345678")
    assert "personal_data" in rules("请致电 +86 186 0000 1234")
    assert "personal_data" not in rules("我们已按您留下的电话138****5678回访。")


def test_check_template_refuses_unknown_placeholders_and_maps_spans_to_the_body():
    body = "受理编号：{case_number}，经办人：{officer}，我们将于{deadline}前答复。"
    found = check_template(body)
    assert [v.rule for v in found] == ["unknown_placeholder"]
    assert body[slice(*found[0].span)] == "{officer}"
    assert check_template("您反映的问题已受理，受理编号：{case_number}，我们将于{deadline}前答复您。") == []
    # Without the deadline placeholder the same time word is vague; its span is in the body.
    body = "受理编号：{case_number}，我们会尽快答复。"
    v = next(v for v in check_template(body) if v.rule == "vague_promise")
    assert body[slice(*v.span)] == "尽快"


def test_check_template_refuses_a_body_over_2000_bytes_as_sent():
    assert "too_long" in {v.rule for v in check_template("您好。" * 300)}


def test_every_seed_template_passes():
    for item in load_seed():
        assert check_template(item["body"]) == [], item["key"]
        assert guard_preview(item["body"]) == guard.preview(item["body"])


def test_check_reply_command_round_trip_with_a_bad_line_in_the_middle():
    lines = [
        json.dumps({"text": "您的留言已收到，受理编号20261127000123，将于12月18日前答复。"}, ensure_ascii=False),
        "not json",
        json.dumps({"body": "no text field"}),
        json.dumps({"text": "爱咋咋地"}, ensure_ascii=False),
    ]
    # No database, no Redis: the command must not need them.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    done = subprocess.run([sys.executable, "-m", "bot", "check-reply"], input="\n".join(lines) + "\n", cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(out) == 4
    assert out[0] == {"ok": True, "violations": []}
    for bad in out[1:3]:
        assert bad["ok"] is False and [v["rule"] for v in bad["violations"]] == ["bad_input"]
    assert out[3]["ok"] is False
    assert out[3]["violations"][0]["rule"] == "dismissive" and out[3]["violations"][0]["span"] == [0, 4]


def test_real_government_replies_rarely_trip_the_tone_checks():
    import csv

    path = shared_path("data", "replies", "gov_replies.csv")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        replies = [row["reply"] for row in csv.DictReader(fh)][:600]
    flagged = [r for r in replies if {v.rule for v in check_text(r)} & guard.TONE_RULES]
    assert len(flagged) / len(replies) <= 0.02


@given(value=st.text(alphabet="12ab号", min_size=1, max_size=4), text=st.text(alphabet="12ab号 ", max_size=40))
@settings(max_examples=300, deadline=None, database=None)
def test_trusted_values_are_found_where_a_literal_regex_finds_them(value: str, text: str):
    """The substring search that exempts a reply's own values finds exactly what re.finditer found before."""
    assert guard._occurrences(value, text) == [m.span() for m in re.finditer(re.escape(value), text)]
