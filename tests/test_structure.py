"""Structural reply checks: blame, retorts, refusals that lead nowhere, a reporter or another person's private facts
disclosed, a threat held over the citizen — in both scripts."""

from __future__ import annotations

import opencc
import pytest

from replies.guard import TONE_RULES, check_text

_S2T = opencc.OpenCC("s2t")

IMPROPER = {
    "blames_citizen": [
        "还不是你自己没看清楚合同",
        "谁让你当初不买保险",
        "这是您自己的问题，与我们无关。",
        "早干什么去了？",
    ],
    "rhetorical_retort": ["这点小事也值得投诉？", "你觉得政府是你家开的吗？", "您不会自己看通知吗？"],
    "unhelpful_refusal": ["请咨询相关部门。", "我们无法处理，请自行协商解决。", "抱歉，此事不归本单位受理。"],
    "discloses_reporter": [
        "经核实，举报人是3栋的王某。",
        "投诉你的就是楼下那户人家。",
        "经查，这条举报是由您公司的会计提交的。",
        "我们已将您的联系电话转给被投诉的物业公司，请等待对方联系。",
    ],
    "discloses_third_party": [
        "您打听的那位女士现住址为建设路12号2单元301室。",
        "邻居刘某确诊为肺结核，目前居家治疗。",
        "被执行人孙某住在光华街8号，您可自行联系。",
    ],
    "threatening": [
        "您如果再继续在网上发帖，我们将依法追究您的责任。",
        "若再拨打热线骚扰，就把您的号码交给派出所处理。",
    ],
    "offensive": ["你这种刁蛮的人真让人恶心。如有疑问请拨打12345热线。", "我们从不跟你这种白痴计较，有事请拨打12345。"],
    "vague_promise": ["已转交处理，后续会及时反馈。", "路面修复工作将在不久的将来完成。", "请放心，我们会尽快处理。"],
}
PROPER = [
    "您反映的事项不属于本单位职责，请拨打12345热线，由热线转至承办部门。",
    "该事项由区市场监督管理局负责，联系电话12315，工作日9:00-17:00。",
    "请问您是否方便提供具体地址？我们将于3个工作日内安排人员现场核实。",
    "关于您反映工作人员称“这不归我们管”的问题，我们已约谈当事人，将于5个工作日内答复您。",
    "投诉文书应当载明投诉人姓名、住所和联系方式。",
    "可能是您错过了首班车，公交公司已将首班发车时间提前至6:10。",
    # Advice that names the abuse it is about, and the account disowning a word.
    "您说对方骂孩子“废物”并动手推搡，这是校园欺凌。请告知班主任，也可拨打12355青少年服务热线求助。",
    "如您正在遭受家庭暴力，请立即拨打110报警，也可拨打妇联热线12338。",
    "我们不会要求您闭嘴，您的意见已转区城管局，5个工作日内答复。",
    "遭遇电信诈骗不是您的过错，请保留转账记录并拨打96110咨询。",
    # Policy requirements and enforcement against the one complained about are not disclosures or threats.
    "参保患者持本人身份证、住院发票和诊断证明到区医保中心窗口办理报销。",
    "经查该烧烤店占道经营属实，已责令整改；如再次发生，区城管局将依法予以处罚。",
    "被举报人的住址和联系方式依法保密，我们不会向任何人透露。",
    "办理护照需携带身份证和近期免冠照片，到区出入境窗口办理。",
    "如果再有人来催收，您就直接拨打110报警。",
    "李女士您好，您反映的供暖问题已转区住建局，5个工作日内答复。",
    "如对后续处理有异议，可依法申请行政复议。",
    "您对“亲，小编收到啦”这类用语的批评我们接受，已停用此类模板。",
    # 尽快 asked of the citizen in advice, a wish, and a promise of secrecy.
    "发现燃气泄漏请立即关闭阀门，并尽快离开房间到室外拨打119。",
    "感谢您对社区工作的支持，祝您母亲早日康复。",
]


@pytest.mark.parametrize("rule,text", [(r, t) for r, texts in IMPROPER.items() for t in texts])
def test_each_structural_problem_is_found_in_both_scripts(rule: str, text: str) -> None:
    for variant in (text, _S2T.convert(text)):
        found = {v.rule for v in check_text(variant)}
        # The word list or the model may name it first; a structural rule or a tone rule must fire.
        assert rule in found or found & TONE_RULES, (variant, found)


def test_a_promise_of_secrecy_discloses_nothing() -> None:
    """Naming what will not be told is not telling it (the whole-reply model may still ask for review)."""
    for text in (
        "我们不会把您的姓名告诉被举报的商户，检查将以例行抽查的名义进行。",
        "请放心，绝不会将您的电话提供给对方单位。",
    ):
        for variant in (text, _S2T.convert(text)):
            assert not {v.rule for v in check_text(variant)} & {"discloses_reporter", "discloses_third_party"}, variant


@pytest.mark.parametrize("text", PROPER)
def test_proper_replies_that_look_alike_pass(text: str) -> None:
    for variant in (text, _S2T.convert(text)):
        assert [v.rule for v in check_text(variant, has_deadline=True)] == [], variant


def test_evaluate_guard_scores_a_held_out_file(tmp_path) -> None:
    import json

    from click.testing import CliRunner

    from bot.cli.core import cli

    sheet = tmp_path / "set.csv"
    sheet.write_text(
        "text,label,category\n这点小事也值得投诉？,improper,rhetorical_retort\n"
        "您的诉求已受理，受理编号{case_number}，我们将于{deadline}前答复您。,proper,ack\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["evaluate-guard", "--heldout", str(sheet)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["improper_caught"] == 1.0 and report["proper_refused"] == 0.0
