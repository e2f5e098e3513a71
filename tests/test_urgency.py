"""Two tiers of emergency as the citizen meets them: a certain one gets the number first, a possible one is taken in.

And small talk ("您好，请问有人吗") never opens a case.
"""

from __future__ import annotations

from sqlalchemy import select

from handlers.emergency import emergency_rule
from handlers.urgency import CERTAIN, POSSIBLE, tier
from models import Case, CaseType, Direction, Message
from tests.conftest import WeChat, count

# A real-looking letter about a standing hazard, with the words a fire rule reads ("浓烟滚滚").
LETTER = (
    "尊敬的领导：您好！我们小区东门外的废品站今天下午又冒出浓烟，气味刺鼻，小区里的老人孩子都不敢开窗。"
    "这个废品站没有任何消防设施，堆满了纸箱和塑料，居民们非常担心。恳请相关部门调查处理，依法取缔这个废品站，"
    "还居民一个安全的居住环境。"
)


def test_the_decision_reads_evidence_not_words_alone() -> None:
    assert tier("楼道里着火了好多烟", rule_matched=True, model_fired=True, not_now=False) == CERTAIN
    # The model alone, a letter, a story told afterwards: possible, never certain.
    assert tier("楼道里着火了好多烟", rule_matched=False, model_fired=True, not_now=False) == POSSIBLE
    assert tier(LETTER, rule_matched=True, model_fired=True, not_now=False) == POSSIBLE
    assert tier("上个月楼道着火了", rule_matched=True, model_fired=False, not_now=True) == POSSIBLE
    assert tier("路灯坏了", rule_matched=False, model_fired=False, not_now=False) is None


def test_a_crash_is_122_even_when_someone_is_trapped_burnt_or_shocked() -> None:
    """The category rules (trapped, explosion, electric shock) catch what the per-kind rules miss; on a crash,
    the per-kind order and the crash check still name the traffic number first."""
    for text in ("货车翻了 司机被压住了", "车祸 有人被压在车下面", "两辆车相撞 爆炸了", "车撞了电线杆 有人触电了"):
        found = emergency_rule(text)
        assert found is not None and found[0] == "traffic", (text, found)
    # Without a crash, the category rules still answer.
    assert emergency_rule("工地塌方 有人被压住了") is not None


def test_a_worry_thanks_or_request_to_inspect_is_never_the_emergency_reply() -> None:
    """The rules' words are there, but nothing is happening to anyone now: taken in, not the emergency reply."""
    for text in (
        "单元门口的雨棚裂了一条缝 风一吹就晃 怕会掉下来砸伤路过的人",
        "樓梯間堆滿紙箱 真要着火了大家都逃不出去",
        "感谢上周帮我们扑灭厨房着火的消防队员",
        "变压器旁边的电线老化冒火花了 麻烦供电所尽快派人来检查一下",
        "wan yi lou dao zhao huo le zen me ban",
    ):
        assert tier(text, rule_matched=True, model_fired=True, not_now=False) == POSSIBLE, text
    # Fear with a cry for help is still a report, and a goodbye that thanks is still a goodbye.
    for text in ("我好怕他会打死我妈 快来救命", "吞了半瓶安眠药 不想活了 谢谢你们一直帮我"):
        assert tier(text, rule_matched=True, model_fired=True, not_now=False) == CERTAIN, text


def test_everyday_words_near_an_emergency_rule_never_get_the_emergency_reply() -> None:
    """Phone calls and games are not beatings, cold medicine is not an overdose, a smell is not a gas leak."""
    from handlers.classify import shipped

    for text in ("他在打电话叫我下楼", "我老公一直在打游戏 怎么办", "吃了感冒药，今晚早点睡",
                 "考完试终于解脱了 今晚好好睡一觉", "垃圾站的臭味熏得我们想吐", "停电一天了终于出电了"):  # fmt: skip
        assert shipped().classify(text).emergency_tier != CERTAIN, text


def test_a_cry_for_help_is_not_demoted_by_thanks_or_a_question() -> None:
    for text in ("谢谢你们，我妈晕倒了，快派救护车", "厨房着火了 会不会爆炸啊", "我妈晕倒了，请医生来看看",
                 "wo jia zhao huo le xie xie", "wo jia ru kou zhao huo le"):  # fmt: skip
        assert tier(text, rule_matched=True, model_fired=True, not_now=False) == CERTAIN, text


def test_the_number_is_the_service_that_deals_with_the_cause() -> None:
    """A leak that made someone faint is 119's, a beating that drew blood 110's, a live wire without a crash 120's."""
    assert emergency_rule("燃气味好重 我老公在厨房晕倒了")[0] == "fire"  # type: ignore[index]
    assert emergency_rule("化工厂的罐子泄漏了 好几个工人晕倒了")[0] == "fire"  # type: ignore[index]
    assert emergency_rule("我爸喝醉了又在打我妈 她头流血了 快来")[0] == "police"  # type: ignore[index]
    assert emergency_rule("电线断了掉在路上 骑车的人碰到 倒在地上不动")[0] == "medical"  # type: ignore[index]
    # A word of the cause's that is not the cause: a gas bill, a phone call.
    assert emergency_rule("老人晕倒了 家里燃气费刚交")[0] == "medical"  # type: ignore[index]
    assert emergency_rule("爸爸在家晕倒了，我一直打他电话没人接")[0] == "medical"  # type: ignore[index]


def test_a_plan_to_die_is_read_whatever_else_the_message_looks_back_on() -> None:
    found = emergency_rule("我把安眠药都吃了 不想活了 谢谢你们以前对我的照顾")
    assert found is not None and found[0] == "police"
    assert tier("我把安眠药都吃了 不想活了 谢谢你们以前对我的照顾", rule_matched=True, model_fired=False,
                not_now=True) == POSSIBLE  # fmt: skip


def test_a_certain_emergency_gets_the_number_first_and_no_intake(wechat: WeChat, db) -> None:
    sent = wechat.text("救命！楼道里着火了好多烟")
    assert sent.reply is not None and sent.reply.startswith("请立即拨打119")
    case = db.execute(select(Case)).scalar_one()
    assert case.case_type is CaseType.EMERGENCY and case.is_urgent


def test_a_possible_emergency_is_taken_in_with_one_line_pointing_to_the_number(wechat: WeChat, db) -> None:
    sent = wechat.text(LETTER)
    assert sent.reply is not None
    case = db.execute(select(Case)).scalar_one()
    # Taken in as usual: a case number and a deadline, the case on the hour clock, a person reads it first.
    assert case.number in sent.reply and not sent.reply.startswith("请立即拨打")
    assert case.case_type is not CaseType.EMERGENCY and case.is_urgent and case.needs_triage
    assert case.sla_unit == "hours" and case.emergency_kind == "fire"
    assert "119" in sent.reply.splitlines()[-1]
    out = db.execute(select(Message).where(Message.direction == Direction.OUT)).scalar_one()
    assert out.template_key == "possible_emergency_fire"


def test_a_possible_emergency_in_traditional_is_answered_in_traditional(wechat: WeChat, db) -> None:
    import opencc

    sent = wechat.text(opencc.OpenCC("s2t").convert(LETTER))
    assert sent.reply is not None and "受理編號" in sent.reply and "119" in sent.reply


def test_small_talk_never_opens_a_case(wechat: WeChat, db) -> None:
    for i, text in enumerate(
        [
            "您好，请问有人吗",
            "你好在吗",
            "测试",
            "有人在吗？？",
            "[微笑]",
            "哈哈哈",
            "你是机器人吗",
            "讚讚",
            "喺度嗎",
            "测试一下能不能收到",
        ]
    ):
        sent = wechat.text(text, openid=f"oSmallTalk{i:017d}")
        assert sent.reply is not None, text
    assert count(db, Case) == 0


def test_evaluate_emergency_scores_a_held_out_file(tmp_path) -> None:
    import json

    from click.testing import CliRunner

    from bot.cli.core import cli

    sheet = tmp_path / "set.csv"
    sheet.write_text(
        "text,label,kind\n救命！楼道里着火了好多烟,emergency,fire\n"
        "您好，请问有人吗,chitchat,\n小区门口路灯坏了三个月没人修,ordinary,\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["evaluate-emergency", "--data", str(tmp_path), "--heldout", str(sheet)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)["heldout"]
    assert report["emergencies"] == 1 and report["recall_certain"] == 1.0 and report["right_number_of_found"] == 1.0
    assert report["certain_false_alarm_rate"] == 0.0 and report["chitchat_taken_in_rate"] == 0.0
