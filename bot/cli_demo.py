"""``python -m bot seed-demo``: load a realistic, entirely fictional volume of traffic for demos and benchmarks.

Citizens, inbound messages with their triage (intent, department, confidences, emergency kind), the bot's
reply to each, and for everything but chit-chat and follow events a case with a plausible life: deadlines on
the official working-day calendar, a person's answer (on time or late), closure, ratings, merges, emergencies
handed to 110/119/120/122, a backlog of open and overdue cases. Times are spread over the last ``--days``
days (daytime-heavy), and a few themes and places rise in the last week so the dashboard's hot spots have
something to show.

**Additive**: every run adds new citizens (OpenIDs tagged with the run), messages, cases and case events
beside whatever is there; it never updates or deletes a row. Run it on a scratch database. It refuses to
run with ``MINSHENG_ENV=production``.

PostgreSQL is loaded with ``COPY … FROM STDIN`` (psycopg's ``cursor.copy``), ids reserved from the tables'
sequences; SQLite with ``executemany`` in large batches. One transaction per batch.
"""

from __future__ import annotations

import array
import bisect
import dataclasses
import datetime as dt
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import click
from sqlalchemy import Engine, func, select, text

from cases.loop import PROGRESS_CHOICES
from cases.sla import deadline_for
from models import Case, CaseEvent, CaseType, Citizen, Message
from replies.variables import DEPARTMENT_NAMES

BATCH = 20_000  # interactions per transaction

DEPT_NAMES = DEPARTMENT_NAMES

# -- fictional place names ------------------------------------------------------------------------

ROADS = [
    "人民路", "解放路", "中山路", "建设路", "和平路", "胜利路", "长江路", "黄河路", "文化路", "新华路",
    "光明街", "幸福街", "东大街", "西大街", "南关街", "北门街", "工业大道", "滨江大道", "迎宾大道", "环城北路",
]  # fmt: skip
COMMUNITIES = [
    "幸福小区", "阳光花园小区", "翠湖小区", "锦绣家园小区", "金色家园小区", "书香苑小区", "东湖小区", "滨河小区",
    "碧桂苑小区", "丽景小区", "嘉和小区", "华庭小区", "紫荆花园", "康乐小区", "怡景小区", "新城小区",
]  # fmt: skip
VILLAGES = ["东风村", "王家村", "李庄村", "河口村", "石桥村", "柳树村", "杨湾村", "马坊村", "新民村", "前进村"]
TOWNS = ["城关镇", "新华镇", "青山镇", "白沙镇", "桃源镇", "龙泉镇"]
SQUARES = ["人民广场", "市民广场", "世纪广场", "时代广场", "文化广场"]
SCHOOLS = ["实验小学", "第一中学", "第三中学", "育才小学", "城南小学", "职业技术学校", "红星小学"]
HOSPITALS = ["市人民医院", "中医院", "妇幼保健院", "第二人民医院", "城西社区医院"]
MARKETS = ["农贸市场", "东门菜市场", "步行街", "夜市", "汽车站", "火车站"]
PLACES = ROADS + COMMUNITIES + VILLAGES + TOWNS + SQUARES + SCHOOLS + HOSPITALS + MARKETS
RESIDENTIAL = COMMUNITIES + VILLAGES

# -- what citizens write ---------------------------------------------------------------------------
# {p}: a place, {r}: a road, {c}: a residential place, {n}: a number of days.

COMPLAINTS: dict[str, list[str]] = {
    "urban_construction": [
        "{p}的路灯坏了{n}天了，晚上很黑很不安全",
        "{r}路面有个大坑，电动车经过很危险",
        "{c}门口的井盖松动了，踩上去会翻",
        "{r}下雨就积水，行人没法走",
        "{c}附近工地夜里施工，噪音扰民睡不着觉",
        "{r}人行道被占道经营的摊贩堵住了",
        "{c}有人私搭乱建违章建筑，占用公共绿地",
        "{c}的电梯经常停运，老人上下楼很困难",
        "{c}停车位太少，车辆乱停乱放堵住消防通道",
        "{c}物业不作为，楼道垃圾没人清理",
    ],
    "environment": [
        "{p}附近工厂夜里排放刺鼻气味",
        "{c}旁边的垃圾站好几天没清运，臭味很大",
        "{p}附近的河道发黑发臭，有污水直排",
        "{c}楼下饭店油烟直排，窗户都不敢开",
        "{p}附近有人焚烧垃圾，浓烟很大",
        "{c}附近的搅拌站粉尘很大",
        "{p}的广场舞音响声音太大，噪音扰民",
    ],
    "transport": [
        "{r}的公交站取消后出行很不方便",
        "{r}和{r2}路口的红绿灯坏了",
        "{p}的公交车经常不按时到站",
        "{r}上出租车拒载、绕路",
        "{school}门口上下学时段交通拥堵严重",
        "{r}的共享单车乱停乱放占用盲道",
    ],
    "education": [
        "{school}乱收费，要求家长购买指定资料",
        "{school}附近的校外培训机构违规开课",
        "孩子在{school}的学位分配不合理",
        "{school}的食堂饭菜质量差",
        "{school}放学后的托管服务收费太高",
    ],
    "labor_social_security": [
        "{p}附近一家工地拖欠农民工工资{n}个月了",
        "公司不给交社保，{p}的人社窗口说管不了",
        "在{p}上班的单位不签劳动合同",
        "失业金申请{n}天了还没有到账",
        "{p}的一家公司拖欠工资，老板联系不上",
    ],
    "commerce_tourism": [
        "{market}有商贩缺斤短两",
        "{p}附近的景区门票乱收费",
        "在{market}买到过期食品，商家不退",
        "{p}的一家饭店价格欺诈，菜单不明码标价",
        "{p}的网吧接纳未成年人上网",
    ],
    "health": [
        "{hospital}挂号难，排队{n}个小时",
        "{hospital}的医生态度很差",
        "{p}附近的诊所无证行医",
        "{hospital}乱收费，检查项目重复",
        "{c}附近的药店卖药不要处方",
    ],
    "public_security": [
        "{c}附近经常有人深夜飙车，噪音很大",
        "{c}门口有人养大型犬不拴绳，咬伤了人",
        "{p}有人在路边赌博",
        "{c}电动车被偷了，小区监控是坏的",
        "{p}附近有流浪狗伤人",
    ],
    "civil_affairs": [
        "{c}的养老服务中心一直没有开放",
        "低保申请交了{n}个月没有结果",
        "{v}的困难老人没人照顾",
        "{p}的婚姻登记处预约不上",
        "{v}的残疾人补贴没有发放",
    ],
    "other": [
        "{p}附近的问题反映了很多次都没人管",
        "{town}政府办事窗口工作人员推诿",
        "{p}的政务服务中心排队时间太长",
    ],
}
INQUIRIES: list[tuple[str, str]] = [
    ("labor_social_security", "请问社保断缴了怎么补缴"),
    ("labor_social_security", "{p}附近哪里可以办理社保卡"),
    ("labor_social_security", "灵活就业人员怎么参加养老保险"),
    ("labor_social_security", "失业保险金怎么申领"),
    ("labor_social_security", "公积金提取需要什么材料"),
    ("health", "新生儿医保怎么办理"),
    ("health", "{hospital}周末有没有门诊"),
    ("health", "异地就医备案怎么办理"),
    ("health", "疫苗接种在哪里预约"),
    ("education", "{school}今年的招生范围是哪些小区"),
    ("education", "小学入学需要准备什么材料"),
    ("education", "外地户口的孩子怎么在本地上学"),
    ("transport", "{r}的公交线路调整了吗"),
    ("transport", "驾驶证到期了怎么换证"),
    ("transport", "去{hospital}坐几路公交车"),
    ("public_security", "身份证丢了怎么补办"),
    ("public_security", "居住证怎么办理"),
    ("public_security", "户口迁移需要哪些手续"),
    ("civil_affairs", "高龄津贴怎么申请"),
    ("civil_affairs", "婚姻登记需要预约吗"),
    ("urban_construction", "{c}的老旧小区改造什么时候开始"),
    ("urban_construction", "{r}什么时候修好"),
    ("commerce_tourism", "{square}最近有什么文化活动"),
    ("commerce_tourism", "个体工商户营业执照怎么办理"),
    ("environment", "垃圾分类的投放时间是几点"),
    ("other", "政务服务中心周六上班吗"),
    ("other", "12345热线可以打吗"),
    ("other", "{town}便民服务中心的电话是多少"),
]
SUGGESTIONS: list[tuple[str, str]] = [
    ("urban_construction", "建议在{r}增加路灯"),
    ("urban_construction", "建议{c}增设电动车充电桩"),
    ("urban_construction", "建议在{c}附近增加停车位"),
    ("transport", "建议在{r}增设公交站"),
    ("transport", "建议延长{p}公交线路的末班车时间"),
    ("transport", "建议在{school}门口设置减速带"),
    ("environment", "建议{square}增加垃圾分类桶"),
    ("environment", "建议在{p}多种一些树"),
    ("education", "建议{school}延长课后服务时间"),
    ("health", "建议{hospital}增加夜间门诊"),
    ("civil_affairs", "建议在{v}建一个老年食堂"),
    ("commerce_tourism", "建议{square}周末开放夜市"),
    ("other", "建议政务服务中心增加自助办理机"),
]
PRAISES: list[tuple[str, str]] = [
    ("urban_construction", "{r}的路修好了，感谢相关部门"),
    ("public_security", "感谢{p}派出所民警帮我找回了钱包"),
    ("health", "{hospital}的医生护士很负责，表扬一下"),
    ("environment", "{c}旁边的垃圾站清理干净了，谢谢"),
    ("civil_affairs", "社区工作人员上门帮老人办了补贴，点赞"),
    ("transport", "{r}的公交司机很热心，帮老人上车"),
    ("education", "{school}的老师很负责任，感谢"),
]
CHITCHAT = [
    "你好", "在吗", "谢谢", "早上好", "好的", "收到", "有人吗", "你好，请问在吗", "晚上好", "谢谢你们",
    "哦", "知道了", "辛苦了", "👍", "嗯嗯", "您好", "打扰了", "好", "OK", "明白",
]  # fmt: skip
EMERGENCIES: list[tuple[str, str]] = [
    ("fire", "{p}着火了，快来人"),
    ("fire", "{c}有一栋楼冒烟了"),
    ("medical", "{p}有人晕倒了，叫救护车"),
    ("medical", "{c}有老人摔倒了起不来"),
    ("police", "{p}有人打架，拿着刀"),
    ("police", "{c}有小偷正在撬门"),
    ("traffic", "{r}发生车祸了，有人受伤"),
    ("traffic", "{r}和{r2}路口两车相撞"),
]
SUFFIXES = [
    "", "", "", "", "，已经{n}天了", "，希望尽快处理", "，多次反映没有结果", "，请相关部门管一管",
    "，麻烦帮忙看看", "，影响很大", "，周边居民意见很大", "！", "，请问怎么办", "。联系电话{phone}",
    "，我的电话是{phone}",
]  # fmt: skip
EMERGENCY_NUMBERS = {"police": "110", "fire": "119", "medical": "120", "traffic": "122"}
OPERATORS = {d: f"demo_{d}" for d in DEPT_NAMES}

# Interaction kinds: what one citizen turn becomes (weights sum to 1).
KINDS = (
    ("complaint", 0.35),
    ("inquiry", 0.22),
    ("chitchat", 0.21),
    ("suggestion", 0.08),
    ("praise", 0.04),
    ("emergency", 0.02),
    ("follow", 0.08),
)
CASE_TYPES = {
    "complaint": CaseType.COMPLAINT,
    "inquiry": CaseType.INQUIRY,
    "suggestion": CaseType.SUGGESTION,
    "praise": CaseType.PRAISE,
    "emergency": CaseType.EMERGENCY,
}
ACK = {
    "complaint": "complaint_ack",
    "inquiry": "inquiry_ack",
    "suggestion": "suggestion_ack",
    "praise": "praise_thanks",
}

# Outcome of a case (decided up front: it fixes how many messages the interaction writes).
ANSWERED, UNANSWERED, MERGED, HANDED = 1, 2, 3, 4
OUTCOMES = ((ANSWERED, 0.925), (UNANSWERED, 0.055), (MERGED, 0.02))


def _cum(weights: Sequence[tuple[Any, float]]) -> tuple[list[Any], list[float]]:
    values, cum, total = [], [], 0.0
    for value, weight in weights:
        total += weight
        values.append(value)
        cum.append(total)
    return values, cum


def _pick(rng: random.Random, table: tuple[list[Any], list[float]]) -> Any:
    values, cum = table
    return values[bisect.bisect_left(cum, rng.random() * cum[-1])]


_KIND_TABLE = _cum(KINDS)
_OUTCOME_TABLE = _cum(OUTCOMES)
# Hours of the day when citizens write (local time).
_HOUR_TABLE = _cum(
    [(h, w) for h, w in enumerate([1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 14, 12, 9, 10, 12, 12, 11, 10, 10, 11, 11, 9, 6, 3])]
)
_RATING_TABLE = _cum([(5, 0.46), (4, 0.29), (3, 0.12), (2, 0.08), (1, 0.05)])


@dataclasses.dataclass
class Plan:
    """Sizes of one run, decided before anything is written."""

    kinds: bytearray  # index into KINDS per interaction
    outcomes: bytearray  # 0 = no case, else ANSWERED/UNANSWERED/MERGED/HANDED
    times: array.array[float]  # POSIX seconds, ascending
    citizens: array.array[int]  # citizen index per interaction
    n_citizens: int
    messages: int


def plan(rng: random.Random, messages: int, days: int, now: float) -> Plan:
    """Interaction kinds and case outcomes adding up to exactly ``messages`` message rows."""
    kinds, outcomes = bytearray(), bytearray()
    kind_index = {k: i for i, (k, _) in enumerate(KINDS)}
    total = 0
    while total < messages:
        left = messages - total
        kind = _pick(rng, _KIND_TABLE)
        if left == 1:
            kind = "unfollow"  # an event with no reply: one row
        if kind == "unfollow":
            kinds.append(len(KINDS))
            outcomes.append(0)
            total += 1
            continue
        if kind in ("chitchat", "follow"):
            outcome = 0
        elif kind == "emergency":
            outcome = HANDED if rng.random() < 0.95 else UNANSWERED
        else:
            outcome = _pick(rng, _OUTCOME_TABLE)
            if outcome == ANSWERED and left < 3:
                outcome = UNANSWERED
        kinds.append(kind_index[kind])
        outcomes.append(outcome)
        total += 3 if outcome == ANSWERED else 2
    count = len(kinds)
    span = days * 86400.0
    start_day = now - span
    times = []
    for _ in range(count):
        day = start_day + rng.randrange(days) * 86400.0
        # A mild growth over the period, daytime-heavy; nothing in the future.
        at = day + _pick(rng, _HOUR_TABLE) * 3600.0 + rng.random() * 3600.0
        times.append(min(at, now - rng.random() * 600.0))
    times.sort()
    n_citizens = max(1, count // 3)
    citizens = array.array(
        "l",
        (
            min(int(rng.paretovariate(1.2)) - 1, n_citizens - 1) if rng.random() < 0.3 else rng.randrange(n_citizens)
            for _ in range(count)
        ),
    )
    return Plan(kinds, outcomes, array.array("d", times), citizens, n_citizens, total)


# -- rows ------------------------------------------------------------------------------------------

MESSAGE_COLUMNS = (
    "id", "direction", "citizen_id", "dedup_key", "wechat_msg_id", "msg_type", "event", "event_key", "content",
    "created_at", "received_at", "in_reply_to_id", "case_id", "template_key", "template_version", "responder",
    "intent", "department", "confidence_intent", "confidence_department", "emergency_kind", "reasons",
    "delivery_status", "sent_at",
)  # fmt: skip
CASE_COLUMNS = (
    "id", "number", "case_type", "status", "department", "is_urgent", "emergency_kind", "needs_triage",
    "citizen_id", "opening_message_id", "summary", "opened_at", "due_at", "sla_amount", "sla_unit", "closed_at",
    "owner_department", "owner_user", "transfer_to", "extended", "merged_into_id", "handed_to", "public_opinion",
    "answered_at", "reopened_count", "rating", "rated_at", "revisit_due", "updated_at",
)  # fmt: skip
EVENT_COLUMNS = ("id", "case_id", "at", "actor", "action", "from_status", "to_status", "detail")
CITIZEN_COLUMNS = ("id", "openid", "first_seen_at", "last_seen_at", "is_subscribed")


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"


def _fill(rng: random.Random, template: str, spike_place: str | None) -> str:
    values = {
        "p": spike_place or rng.choice(PLACES),
        "r": rng.choice(ROADS),
        "r2": rng.choice(ROADS),
        "c": spike_place if spike_place in RESIDENTIAL else rng.choice(RESIDENTIAL),
        "v": rng.choice(VILLAGES),
        "town": rng.choice(TOWNS),
        "square": rng.choice(SQUARES),
        "school": rng.choice(SCHOOLS),
        "hospital": rng.choice(HOSPITALS),
        "market": rng.choice(MARKETS),
        "n": rng.choice((2, 3, 5, 7, 10, 15, 20, 30)),
        "phone": _phone(rng),
    }
    return template.format(**values)


# Rising in the last week: these themes and one place get extra traffic.
SPIKES = [
    ("urban_construction", "{r}下雨就积水，行人没法走"),
    ("environment", "{c}楼下饭店油烟直排，窗户都不敢开"),
    ("labor_social_security", "{p}附近一家工地拖欠农民工工资{n}个月了"),
]
SPIKE_PLACE = "锦绣家园小区"


class Rows:
    """Builds the rows of one interaction; ids come from the caller's counters."""

    def __init__(self, rng: random.Random, tz: ZoneInfo, now: dt.datetime, run: str) -> None:
        self.rng = rng
        self.tz = tz
        self.now = now
        self.run = run
        self.recent = now - dt.timedelta(days=7)
        self._due: dict[tuple[CaseType, dt.date], tuple[dt.datetime, int, str]] = {}
        self.last_case_by_dept: dict[str, int] = {}

    def deadline(self, case_type: CaseType, at: dt.datetime) -> tuple[dt.datetime, int, str]:
        """Due date of a case opened at ``at`` (cached per type and local day)."""
        if case_type is CaseType.EMERGENCY:
            d = deadline_for(case_type, at, self.tz, urgent=True)
            return d.due_at, d.amount, d.unit
        key = (case_type, at.astimezone(self.tz).date())
        found = self._due.get(key)
        if found is None:
            d = deadline_for(case_type, at, self.tz)
            found = self._due[key] = (d.due_at, d.amount, d.unit)
        return found

    def text(self, kind: str, at: dt.datetime) -> tuple[str, str, str | None]:
        """(text, department, emergency kind) of a citizen's message."""
        rng = self.rng
        spike = at >= self.recent and rng.random() < 0.12
        place = SPIKE_PLACE if at >= self.recent and rng.random() < 0.04 else None
        if kind == "complaint":
            if spike:
                dept, template = rng.choice(SPIKES)
            else:
                dept = rng.choice(list(COMPLAINTS))
                template = rng.choice(COMPLAINTS[dept])
            return _fill(rng, template, place) + _fill(rng, rng.choice(SUFFIXES), None), dept, None
        if kind == "inquiry":
            dept, template = rng.choice(INQUIRIES)
            return _fill(rng, template, place) + rng.choice(("", "？", "，谢谢")), dept, None
        if kind == "suggestion":
            dept, template = rng.choice(SUGGESTIONS)
            return _fill(rng, template, place), dept, None
        if kind == "praise":
            dept, template = rng.choice(PRAISES)
            return _fill(rng, template, place), dept, None
        if kind == "emergency":
            emergency, template = rng.choice(EMERGENCIES)
            dept = "public_security" if emergency in ("police", "traffic") else "health"
            if emergency == "fire":
                dept = "other"
            return _fill(rng, template, place), dept, emergency
        return rng.choice(CHITCHAT), "none", None


@dataclasses.dataclass
class Batch:
    """Rows of one transaction, in insertion order (FKs: citizens → inbound → cases → outbound → events)."""

    inbound: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    cases: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    outbound: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    events: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)


def _message(**values: Any) -> tuple[Any, ...]:
    return tuple(values.get(c) for c in MESSAGE_COLUMNS)


def build(
    rows: Rows,
    kind_index: int,
    outcome: int,
    at_ts: float,
    citizen_id: int,
    ids: Iterator[int],
    case_ids: Iterator[int],
    event_ids: Iterator[int],
    batch: Batch,
) -> None:
    """Append the rows of one interaction to ``batch``."""
    rng = rows.rng
    at = dt.datetime.fromtimestamp(at_ts, dt.UTC)
    kind = KINDS[kind_index][0] if kind_index < len(KINDS) else "unfollow"
    in_id = next(ids)
    dedup = f"demo:{rows.run}:{in_id}"
    msg_id = rng.randrange(10**15, 10**16)
    if kind in ("follow", "unfollow"):
        event = "subscribe" if kind == "follow" else "unsubscribe"
        batch.inbound.append(
            _message(id=in_id, direction="in", citizen_id=citizen_id, dedup_key=dedup, msg_type="event",
                     event=event, event_key="", content="", created_at=at, received_at=at)
        )  # fmt: skip
        if kind == "follow":
            batch.outbound.append(
                _message(id=next(ids), direction="out", citizen_id=citizen_id, msg_type="text",
                         content="感谢关注！您可以直接留言反映问题、咨询政策或提出建议，我们会按时答复。",
                         created_at=at, received_at=at, in_reply_to_id=in_id, template_key="follow",
                         template_version=1, responder="bot")
            )  # fmt: skip
        return
    content, dept, emergency = rows.text(kind, at)
    intent = kind
    conf_i = round(rng.uniform(0.55, 0.99), 4)
    conf_d = round(rng.uniform(0.45, 0.98), 4) if dept != "none" else round(rng.uniform(0.3, 0.9), 4)
    needs_human = conf_i < 0.6 or conf_d < 0.5
    reasons = json.dumps([f"意图:{intent}", f"部门:{dept}"] + (["紧急关键词"] if emergency else []), ensure_ascii=False)
    batch.inbound.append(
        _message(id=in_id, direction="in", citizen_id=citizen_id, dedup_key=dedup, wechat_msg_id=msg_id,
                 msg_type="text", content=content, created_at=at, received_at=at, intent=intent, department=dept,
                 confidence_intent=conf_i, confidence_department=conf_d, emergency_kind=emergency, reasons=reasons)
    )  # fmt: skip
    reply_at = at + dt.timedelta(milliseconds=rng.randrange(80, 900))
    if outcome == 0:
        batch.outbound.append(
            _message(id=next(ids), direction="out", citizen_id=citizen_id, msg_type="text",
                     content="您好！请直接描述您要反映的事项和地点，或回复“进度”查询已受理的诉求。",
                     created_at=reply_at, received_at=reply_at, in_reply_to_id=in_id, template_key="default",
                     template_version=1, responder="bot")
        )  # fmt: skip
        return
    case_type = CASE_TYPES[kind]
    case_id = next(case_ids)
    number = f"{at.astimezone(rows.tz):%Y%m%d}{in_id:05d}"
    due, amount, unit = rows.deadline(case_type, at)
    department = "other" if dept == "none" else dept
    now = rows.now
    status, owner_user, transfer_to = "accepted", None, None
    answered_at = closed_at = rated_at = None
    rating, merged_into, handed_to = None, None, None
    revisit = extended = public_opinion = False
    needs_triage = needs_human and outcome == UNANSWERED
    events: list[tuple[dt.datetime, str, str, str | None, str, str]] = []
    operator = OPERATORS[department]
    window = max((due - at).total_seconds(), 3600.0)
    age = (now - at).total_seconds()
    if outcome == HANDED:
        status = "handed_over"
        handed_to = EMERGENCY_NUMBERS[emergency or "police"]
        closed_at = at + dt.timedelta(seconds=rng.randrange(60, 900))
        closed_at = min(closed_at, now)
        events.append((closed_at, operator, "hand_over", "accepted", "handed_over", f"已移交{handed_to}"))
    elif outcome == MERGED:
        into = rows.last_case_by_dept.get(department)
        if into is None:
            outcome = UNANSWERED
        else:
            status, merged_into = "merged", into
            closed_at = min(at + dt.timedelta(hours=rng.uniform(1, 48)), now)
            events.append((closed_at, operator, "merge", "accepted", "merged", "重复诉求，并入同类诉求"))
    if outcome == ANSWERED:
        late = rng.random() < 0.11
        delay = window * rng.uniform(0.05, 0.95) if not late else window + rng.uniform(0.3, 6) * 86400
        if delay > age * 0.9:
            delay = age * rng.uniform(0.2, 0.9)
        answered_at = at + dt.timedelta(seconds=delay)
        owner_user = operator
        events.append((at + dt.timedelta(seconds=delay * 0.2), "demo_intake", "assign", "accepted", "assigned",
                       DEPT_NAMES[department]))  # fmt: skip
        events.append((answered_at, operator, "answer_sent", "in_progress", "answered", "answer_progress@1"))
        close_after = rng.uniform(0.5, 96) * 3600
        if (answered_at - at).total_seconds() + close_after < age:
            status = "closed"
            closed_at = answered_at + dt.timedelta(seconds=close_after)
            events.append((closed_at, operator, "close", "answered", "closed", "已答复并办结"))
            if rng.random() < 0.55:
                rated_at = closed_at + dt.timedelta(hours=rng.uniform(0.2, 48))
                if rated_at < now:
                    rating = _pick(rng, _RATING_TABLE)
                    revisit = rating <= 2 and rng.random() < 0.3
                    events.append((rated_at, "citizen", "rate", "closed", "closed", str(rating)))
                else:
                    rated_at = None
        else:
            status = "answered"
        extended = late and rng.random() < 0.3
    elif outcome == UNANSWERED:
        status = rng.choice(("accepted", "assigned", "assigned", "in_progress", "in_progress"))
        if status != "accepted":
            owner_user = operator if status == "in_progress" else None
            events.append((at + dt.timedelta(seconds=min(window, age) * 0.1), "demo_intake", "assign", "accepted",
                           "assigned", DEPT_NAMES[department]))  # fmt: skip
        if rng.random() < 0.05:
            transfer_to = rng.choice([d for d in DEPT_NAMES if d != department])
        public_opinion = rng.random() < 0.01
    if status in ("accepted", "assigned", "in_progress", "answered"):
        rows.last_case_by_dept[department] = case_id
    last = max([at] + [e[0] for e in events])
    batch.cases.append(
        (case_id, number, case_type.value, status, department, kind == "emergency", emergency, needs_triage,
         citizen_id, in_id, content[:2000], at, due, amount, unit, closed_at, department, owner_user, transfer_to,
         extended, merged_into, handed_to, public_opinion, answered_at, 0, rating, rated_at, revisit, last)
    )  # fmt: skip
    if kind == "emergency":
        ack_key = {"police": "emergency_police", "fire": "emergency_fire", "medical": "emergency_medical",
                   "traffic": "emergency_traffic"}.get(emergency or "", "emergency")  # fmt: skip
        ack = f"情况紧急请立即拨打{EMERGENCY_NUMBERS.get(emergency or '', '110')}。您的留言已记录，受理编号：{number}。"
    else:
        ack_key = ACK[kind]
        ack = (f"您反映的事项已受理，受理编号：{number}，承办部门：{DEPT_NAMES[department]}，"
               f"答复期限：{due.astimezone(rows.tz):%Y年%m月%d日}。")  # fmt: skip
    batch.outbound.append(
        _message(id=next(ids), direction="out", citizen_id=citizen_id, msg_type="text", content=ack,
                 created_at=reply_at, received_at=reply_at, in_reply_to_id=in_id, case_id=case_id,
                 template_key=ack_key, template_version=1, responder="bot")
    )  # fmt: skip
    if answered_at is not None:
        progress = rng.choice(PROGRESS_CHOICES)
        batch.outbound.append(
            _message(id=next(ids), direction="out", citizen_id=citizen_id, msg_type="text",
                     content=f"您反映的问题（受理编号：{number}）{progress}。如有疑问，请回复本账号。",
                     created_at=answered_at, received_at=answered_at, case_id=case_id, template_key="answer_progress",
                     template_version=1, responder=operator, delivery_status="sent", sent_at=answered_at)
        )  # fmt: skip
    batch.events.append((next(event_ids), case_id, at, "bot", "accept", None, "accepted", ""))
    for when, actor, action, before, after, detail in events:
        batch.events.append((next(event_ids), case_id, when, actor, action, before, after, detail))


# -- writing ---------------------------------------------------------------------------------------


class Writer:
    """Reserves ids and writes batches: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pg = engine.dialect.name == "postgresql"
        self.raw: Any = engine.raw_connection()
        self.conn: Any = self.raw.driver_connection if self.pg else self.raw

    def reserve(self, table: str, count: int) -> Iterator[int]:
        """``count`` fresh ids of ``table`` (from its sequence on PostgreSQL)."""
        if count == 0:
            return iter(())
        cur = self.conn.cursor()
        if self.pg:
            cur.execute(f"SELECT nextval('{table}_id_seq') FROM generate_series(1, %s)", (count,))  # noqa: S608
            ids = [r[0] for r in cur.fetchall()]
            return iter(ids)
        cur.execute(f"SELECT coalesce(max(id), 0) FROM {table}")  # noqa: S608
        first = int(cur.fetchone()[0]) + 1
        self._sqlite_next = first + count
        return iter(range(first, first + count))

    def write(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """Insert ``rows`` (tuples in ``columns`` order) into ``table``, inside the open transaction."""
        if not rows:
            return
        cur = self.conn.cursor()
        cols = ", ".join(columns)
        if self.pg:
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("?" for _ in columns)
        cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", [_sqlite_row(r) for r in rows])  # noqa: S608

    def commit(self) -> None:
        """Commit the batch."""
        self.conn.commit()

    def close(self) -> None:
        """Return the connection to the pool."""
        self.raw.close()

    def analyze(self) -> None:
        """Refresh planner statistics (and, on PostgreSQL, the visibility map for index-only scans)."""
        if self.pg:
            autocommit = self.conn.autocommit
            self.conn.autocommit = True
            try:
                self.conn.execute("VACUUM (ANALYZE) citizens, messages, cases, case_events")
            finally:
                self.conn.autocommit = autocommit
        else:
            self.conn.execute("ANALYZE")
            self.conn.commit()


def _sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # The sqlite3 module stores datetimes as SQLAlchemy does: naive UTC "YYYY-MM-DD HH:MM:SS.ffffff".
    return tuple(
        v.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds") if isinstance(v, dt.datetime) else v
        for v in row
    )


def seed(
    engine: Engine,
    messages: int,
    *,
    days: int = 90,
    tz: ZoneInfo,
    seed_value: int | None = None,
    progress: Any = None,
    now: dt.datetime | None = None,
) -> dict[str, int]:
    """Load ``messages`` message rows and everything that goes with them; returns the counts written."""
    now = now or dt.datetime.now(dt.UTC)
    rng = random.Random(seed_value)
    run = uuid.UUID(int=rng.getrandbits(128)).hex[:8] if seed_value is not None else uuid.uuid4().hex[:8]
    # Outside the seeded stream: two runs with the same --seed still need distinct OpenIDs and keys.
    run = f"{run}{uuid.uuid4().hex[:4]}"
    p = plan(rng, messages, days, now.timestamp())
    writer = Writer(engine)
    counts = {"citizens": 0, "messages": 0, "cases": 0, "case_events": 0}
    try:
        citizen_ids = list(writer.reserve("citizens", p.n_citizens))
        first_seen = [now] * p.n_citizens
        last_seen = [now - dt.timedelta(days=days + 1)] * p.n_citizens
        for ts, c in zip(p.times, p.citizens, strict=True):
            at = dt.datetime.fromtimestamp(ts, dt.UTC)
            if at < first_seen[c]:
                first_seen[c] = at
            if at > last_seen[c]:
                last_seen[c] = at
        used = sorted(set(p.citizens))
        citizen_rows = [
            (citizen_ids[c], f"oDemo{run}{c:011d}"[:28], first_seen[c], last_seen[c], rng.random() > 0.03) for c in used
        ]
        for start in range(0, len(citizen_rows), 50_000):
            writer.write("citizens", CITIZEN_COLUMNS, citizen_rows[start : start + 50_000])
        writer.commit()
        counts["citizens"] = len(citizen_rows)
        rows = Rows(rng, tz, now, run)
        total = len(p.kinds)
        for start in range(0, total, BATCH):
            end = min(total, start + BATCH)
            n_msgs = sum(1 if k == len(KINDS) else (3 if o == ANSWERED else 2)
                         for k, o in zip(p.kinds[start:end], p.outcomes[start:end], strict=True))  # fmt: skip
            n_cases = sum(1 for o in p.outcomes[start:end] if o)
            ids = writer.reserve("messages", n_msgs)
            case_ids = writer.reserve("cases", n_cases)
            event_ids = writer.reserve("case_events", n_cases * 6)
            batch = Batch()
            for i in range(start, end):
                build(rows, p.kinds[i], p.outcomes[i], p.times[i], citizen_ids[p.citizens[i]], ids, case_ids,
                      event_ids, batch)  # fmt: skip
            writer.write("messages", MESSAGE_COLUMNS, batch.inbound)
            writer.write("cases", CASE_COLUMNS, batch.cases)
            writer.write("messages", MESSAGE_COLUMNS, batch.outbound)
            writer.write("case_events", EVENT_COLUMNS, batch.events)
            writer.commit()
            written = len(batch.inbound) + len(batch.outbound)
            counts["messages"] += written
            counts["cases"] += len(batch.cases)
            counts["case_events"] += len(batch.events)
            if progress is not None:
                progress.update(written)
        writer.analyze()
    finally:
        writer.close()
    return counts


@click.command("seed-demo")
@click.option("--messages", default=100_000, show_default=True, type=click.IntRange(1, 50_000_000),
              help="Message rows to add (inbound and outbound together).")  # fmt: skip
@click.option("--days", default=90, show_default=True, type=click.IntRange(1, 730), help="Spread over the last N days.")
@click.option("--seed", "seed_value", type=int, default=None, help="Random seed, for a reproducible mix.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation when the database already has messages.")
def seed_demo_cmd(messages: int, days: int, seed_value: int | None, yes: bool) -> None:
    """Add fictional citizens, messages and cases for demos and benchmarks (additive; never in production).

    Each run ADDS rows beside the existing ones (new OpenIDs per run); nothing is updated or deleted.
    Use a scratch database.
    """
    from bot.cli import _app
    from bot.extensions import services

    if os.environ.get("MINSHENG_ENV", "").strip().lower() == "production":
        click.echo("minsheng: seed-demo refuses to run with MINSHENG_ENV=production", err=True)
        sys.exit(2)
    app = _app()
    if app.config["MINSHENG_ENV"] == "production":
        click.echo("minsheng: seed-demo refuses to run with MINSHENG_ENV=production", err=True)
        sys.exit(2)
    from bot.bootstrap import pending_migrations

    problem = pending_migrations(app)
    if problem:
        click.echo(f"minsheng: {problem}", err=True)
        sys.exit(2)
    svc = services(app)
    with svc.sessions() as session:
        existing = session.scalar(select(func.count()).select_from(Message)) or 0
    if existing and not yes:
        click.confirm(f"The database already holds {existing} messages; add {messages} more?", abort=True)
    started = time.monotonic()
    with click.progressbar(length=messages, label="seeding messages", file=sys.stderr) as bar:
        counts = seed(svc.engine, messages, days=days, tz=ZoneInfo(app.config["TIMEZONE"]), seed_value=seed_value,
                      progress=bar)  # fmt: skip
    elapsed = time.monotonic() - started
    with svc.sessions() as session:
        totals = {
            "messages": session.scalar(select(func.count()).select_from(Message)),
            "cases": session.scalar(select(func.count()).select_from(Case)),
            "citizens": session.scalar(select(func.count()).select_from(Citizen)),
            "case_events": session.scalar(select(func.count()).select_from(CaseEvent)),
        }
        session.execute(text("SELECT 1"))
    svc.close()
    added = ", ".join(f"{v} {k}" for k, v in counts.items())
    click.echo(f"added {added} in {elapsed:.1f} s; the database now holds "
               + ", ".join(f"{v} {k}" for k, v in totals.items()))  # fmt: skip
