"""Triage of a citizen's words: intent, department and emergencies.

This is the spine's rule set: small, high-recall keyword rules, each decision carrying the rules
that made it. The classification issue replaces it with a trained model behind the same interface
(:class:`Triage` and a ``classify(text)`` callable).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Protocol

INTENTS = ("complaint", "inquiry", "suggestion", "praise", "emergency", "chitchat")


@dataclasses.dataclass(frozen=True)
class Triage:
    """What a message is about, how sure we are, and why."""

    intent: str
    department: str
    emergency: bool = False
    emergency_kind: str | None = None
    confidence_intent: float = 0.0
    confidence_department: float = 0.0
    reasons: tuple[str, ...] = ()

    @property
    def needs_human(self) -> bool:
        """Low confidence: a person must read the message before it is routed."""
        return self.intent != "chitchat" and min(self.confidence_intent, self.confidence_department) < 0.5


class Classifier(Protocol):
    """Anything that turns a citizen's text into a :class:`Triage`."""

    def classify(self, text: str) -> Triage: ...


def _rx(words: str) -> re.Pattern[str]:
    return re.compile("|".join(words.split()))


# Emergencies: something happening now that threatens life or safety. Kept separate from the
# everyday words for the same things ("消防通道被占" is a complaint, not a fire).
_EMERGENCY = {
    "fire": _rx("着火了 起火了 失火 火灾 烧起来 冒烟了 浓烟 煤气泄漏 燃气泄漏 液化气泄漏 闻到煤气 闻到燃气"),
    "medical": _rx(
        "晕倒 昏倒 昏迷 不省人事 没有呼吸 没呼吸了 心脏病发 心梗 中风了 大出血 抽搐 休克 喝农药 割腕 想自杀 要自杀 跳楼"
    ),
    "traffic": _rx("车祸 撞车了 被车撞 追尾了 翻车了 交通事故"),
    "police": _rx(
        "抢劫 持刀 砍人 杀人 绑架 家暴 正在打人 被人打了 有人打架 入室盗窃 小偷在 正在偷 拐卖 被跟踪 非法拘禁"
    ),
}
_NOT_NOW = _rx("消防通道 消防栓 灭火器 防火 演练 车祸多发 预防 以前 去年 上个月 怎么预防")
_PRAISE = _rx("感谢 谢谢 表扬 点赞 辛苦了 给力 满意 好评 锦旗")
_SARCASM = _rx("真是谢谢 谢谢你们全家 感谢你们的不作为 呵呵 真行啊 真有你们的 效率真高啊")
# Asking how to complain is an inquiry about a channel, not a complaint.
_ASK_CHANNEL = _rx(
    "投诉电话 举报电话 电话是多少 电话多少 怎么投诉 如何投诉 怎么举报 如何举报 投诉渠道 在哪投诉 去哪投诉"
)
_SUGGESTION = _rx("建议 希望能 希望可以 能不能增加 可否 最好能 提个意见 提议")
_COMPLAINT = _rx(
    "投诉 举报 反映 没人管 不管 扰民 噪音 太吵 漏水 坏了 坏掉 堵了 堵塞 拖欠 欠薪 欠工资 乱收费 违建 违章 占道 "
    "脏乱 臭 污染 排污 偷排 异味 积水 停水 停电 塌 裂缝 故障 不作为 态度差 态度恶劣 推诿 刁难 乱停 垃圾 "
    "没人修 没有人修 几个月了 好几天了 一直没 还没解决 求助 帮帮 帮忙 救救 太大 太多 严重 难闻 受不了 睡不着 装修"
)
_INQUIRY = _rx(
    "怎么 如何 哪里 哪儿 在哪 什么时候 多久 多少钱 需要什么 需要哪些 材料 流程 手续 能否办理 可以办理 咨询 请问 "
    "是否 能不能 可不可以 电话是多少 几点 时间 条件 进度 查询 吗 么 呢 ？ \\?"
)

_DEPARTMENTS = {
    "urban_construction": _rx(
        "路灯 道路 马路 井盖 违建 违章建筑 小区 物业 装修 电梯 房子 房屋 楼道 漏水 停水 停电 燃气 "
        "供暖 暖气 拆迁 施工 工地 城管 占道 摊贩 绿化 垃圾 下水道 积水 公厕"
    ),
    "environment": _rx("污染 排污 偷排 异味 臭味 废气 废水 噪音 噪声 扬尘 油烟 环保 河道 黑臭 垃圾焚烧 空气"),
    "transport": _rx("公交 地铁 出租车 网约车 打车 客运 班车 车站 停车 红绿灯 信号灯 驾照 驾驶证 车辆 交通 高速 货车"),
    "education": _rx("学校 学生 老师 教师 入学 招生 学区 幼儿园 补课 培训班 校车 学费 考试 作业 升学"),
    "labor_social_security": _rx(
        "社保 医保 养老保险 失业 工资 欠薪 拖欠 劳动合同 劳动仲裁 公积金 退休 就业 用人单位 加班 工伤"
    ),
    "commerce_tourism": _rx(
        "商家 商场 超市 饭店 餐馆 消费 退款 假货 价格 景区 旅游 导游 酒店 门票 购物 外卖 快递 预付卡"
    ),
    "health": _rx("医院 医生 看病 挂号 疫苗 药店 药品 卫生 诊所 核酸 体检 食品安全 病人 护士"),
    "public_security": _rx(
        "派出所 警察 民警 报警 户口 户籍 身份证 居住证 落户 治安 诈骗 盗窃 小偷 打架 赌博 传销 出入境 护照"
    ),
    "civil_affairs": _rx(
        "结婚 离婚 婚姻登记 低保 残疾 养老院 敬老院 高龄补贴 老年人补贴 殡葬 救助站 流浪 社区 居委会 村委会"
    ),
}


class RuleClassifier:
    """Keyword rules with readable reasons; confidence reflects how much evidence there was."""

    def classify(self, text: str) -> Triage:
        """Triage one normalised text."""
        t = text.strip()
        if not t:
            return Triage("chitchat", "none", confidence_intent=0.9, confidence_department=0.9, reasons=("empty",))
        reasons: list[str] = []
        if not _NOT_NOW.search(t):
            for kind, rx in _EMERGENCY.items():
                m = rx.search(t)
                if m:
                    reasons.append(f"emergency:{kind}:{m.group(0)}")
                    return Triage(
                        "emergency",
                        "public_security" if kind in ("police", "traffic") else "other",
                        True,
                        kind,
                        0.9,
                        0.6,
                        tuple(reasons),
                    )
        department, dep_conf = "other", 0.3
        best = 0
        for dep, rx in _DEPARTMENTS.items():
            hits = rx.findall(t)
            if len(hits) > best:
                best, department = len(hits), dep
                dep_reason = f"department:{dep}:{'/'.join(hits[:3])}"
        if best:
            dep_conf = min(0.95, 0.55 + 0.15 * best)
            reasons.append(dep_reason)

        scores = {
            "complaint": len(_COMPLAINT.findall(t)) + 2 * len(_SARCASM.findall(t)),
            "suggestion": len(_SUGGESTION.findall(t)),
            "praise": 0 if _SARCASM.search(t) else len(_PRAISE.findall(t)),
            "inquiry": len(_INQUIRY.findall(t)),
        }
        if _ASK_CHANNEL.search(t):
            scores["inquiry"] += 2 * len(_ASK_CHANNEL.findall(t))
            scores["complaint"] = max(0, scores["complaint"] - len(_ASK_CHANNEL.findall(t)))
        # A question about a problem that persists is a complaint ("为什么三个月都没人修").
        if scores["complaint"] and scores["inquiry"]:
            scores["inquiry"] = max(0, scores["inquiry"] - 1) if scores["complaint"] >= 2 else scores["inquiry"]
        intent, score = max(scores.items(), key=lambda kv: kv[1])
        if score == 0:
            if len(t) >= 12 and best:
                # A description of a place-bound problem without any cue word: a person should read it.
                return Triage(
                    "complaint",
                    department,
                    confidence_intent=0.35,
                    confidence_department=dep_conf,
                    reasons=tuple([*reasons, "intent:no_cue_long_text"]),
                )
            return Triage(
                "chitchat",
                "none",
                confidence_intent=0.6,
                confidence_department=0.6,
                reasons=tuple([*reasons, "intent:no_cue"]),
            )
        total = sum(scores.values())
        reasons.append(f"intent:{intent}:{score}/{total}")
        return Triage(
            intent,
            department,
            confidence_intent=round(min(0.95, 0.4 + 0.55 * score / total), 2),
            confidence_department=dep_conf,
            reasons=tuple(reasons),
        )
