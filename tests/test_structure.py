"""Structural reply checks: blame, retorts, refusals that lead nowhere, a reporter named — in both scripts."""
from __future__ import annotations

import opencc
import pytest

from replies.guard import TONE_RULES, check_text

_S2T = opencc.OpenCC("s2t")

IMPROPER = {
    "blames_citizen": [
        "还不是你自己没看清楚合同", "谁让你当初不买保险", "这是您自己的问题，与我们无关。", "早干什么去了？"
    ],
    "rhetorical_retort": ["这点小事也值得投诉？", "你觉得政府是你家开的吗？", "您不会自己看通知吗？"],
    "unhelpful_refusal": ["请咨询相关部门。", "我们无法处理，请自行协商解决。", "抱歉，此事不归本单位受理。"],
    "discloses_reporter": ["经核实，举报人是3栋的王某。", "投诉你的就是楼下那户人家。"],
}
PROPER = [
    "您反映的事项不属于本单位职责，请拨打12345热线，由热线转至承办部门。",
    "该事项由区市场监督管理局负责，联系电话12315，工作日9:00-17:00。",
    "请问您是否方便提供具体地址？我们将于3个工作日内安排人员现场核实。",
    "关于您反映工作人员称“这不归我们管”的问题，我们已约谈当事人，将于5个工作日内答复您。",
    "投诉文书应当载明投诉人姓名、住所和联系方式。",
    "可能是您错过了首班车，公交公司已将首班发车时间提前至6:10。",
]


@pytest.mark.parametrize("rule,text", [(r, t) for r, texts in IMPROPER.items() for t in texts])
def test_each_structural_problem_is_found_in_both_scripts(rule: str, text: str) -> None:
    for variant in (text, _S2T.convert(text)):
        found = {v.rule for v in check_text(variant)}
        # The word list or the model may name it first; a structural rule or a tone rule must fire.
        assert rule in found or found & TONE_RULES, (variant, found)


@pytest.mark.parametrize("text", PROPER)
def test_proper_replies_that_look_alike_pass(text: str) -> None:
    for variant in (text, _S2T.convert(text)):
        assert [v.rule for v in check_text(variant, has_deadline=True)] == [], variant


def test_evaluate_guard_scores_a_held_out_file(tmp_path) -> None:
    import json

    from click.testing import CliRunner

    from bot.cli.core import cli

    sheet = tmp_path / "set.csv"
    sheet.write_text("text,label,category\n这点小事也值得投诉？,improper,rhetorical_retort\n"
                     "您的诉求已受理，受理编号{case_number}，我们将于{deadline}前答复您。,proper,ack\n",
                     encoding="utf-8")
    result = CliRunner().invoke(cli, ["evaluate-guard", "--heldout", str(sheet)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["improper_caught"] == 1.0 and report["proper_refused"] == 0.0
