"""Synthetic replays for the rising-issue detector: two weeks of real messages in an ordinary rhythm, plus spikes.

Background: the real messages of the shared data folder (dev_raw's title and body, gov_replies' title and message,
train_segmented's words joined back), each sent either whole or as its title only (WeChat messages are short),
plus a little small talk. Volume follows a daily and weekly rhythm: about 1,200 messages on a weekday and 700 on a
weekend day (±15 % a day), peaking mid-morning and in the evening, quiet at night. Citizens are random; one
message in eight is followed by a resend or a "still waiting" from the same citizen within half an hour.

Injected on top (each message tagged, so the evaluation knows which lines belong to what):

* **spikes** — 10–40 messages about one theme in one place within 20–90 minutes (smells and noise mostly in the
  evening), from templates written here; a third of them in a place the real messages name most often (人民路,
  星沙大道 …, so the place has a baseline of its own), the rest in made-up communities, roads, parks and schools;
  varied: the place spelled with or without its building, or left out
  (15 %); Traditional script (20 %); typos, stray spaces and full-width punctuation (20 %); stickers;
* **near misses** — 3–6 messages about one theme in one place, or 5 messages on one theme from 5 places, spread
  over 8–24 hours: related traffic that must not alarm. (Six schools reporting sick children within two hours
  is not a near miss but a city-wide incident, which the theme key is there to catch.)
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import datetime as dt
import json
import random
from collections.abc import Sequence
from pathlib import Path

from cases.opinion import read_message
from text.script import to_traditional

TZ = dt.timezone(dt.timedelta(hours=8))
START = dt.datetime(2025, 3, 3, tzinfo=TZ)  # a Monday
DAYS = 14
WEEKDAY_VOLUME, WEEKEND_VOLUME = 1200, 700
# Share of a day's messages in each local hour: quiet at night, peaks mid-morning and in the evening.
HOURLY = (
    0.6, 0.3, 0.2, 0.15, 0.15, 0.3, 0.8, 2.0, 4.0, 6.5, 7.5, 7.0, 5.0, 4.5, 5.5, 6.0, 5.5, 5.0, 5.0, 6.5, 7.5, 7.0,
    4.5, 2.0,
)  # fmt: skip
SMALL_TALK = ("你好", "在吗", "人工客服", "怎么投诉", "谢谢", "有人吗？", "我要反映问题", "怎么查办理进度", "好的",
              "[微笑]", "您好，请问社保卡怎么补办", "营业时间是几点", "收到", "为什么没人回复")  # fmt: skip
FOLLOW_UPS = ("怎么还没人回复？", "还在等处理", "请尽快处理，谢谢", "有人管吗", "已经反映过了，怎么样了")

# Spike themes: templates ({p} the place), where they happen, and when (local hours they may start in).
_DAY = tuple(range(7, 22))
SPIKES: dict[str, tuple[tuple[str, ...], str, tuple[int, ...]]] = {
    "停水": (("{p}又停水了，什么时候来水？", "{p}从早上到现在一直没水，没有任何通知", "我们{p}停水了，做饭都没法做",
             "请问{p}为什么停水？", "{p}自来水停了大半天了", "{p}今天断水，谁来管管", "家里没水了，住{p}",
             "{p}怎么又没水了？老人小孩都等着用水", "停水通知都没有一个，{p}的业主很气愤", "{p}水停了，物业说不知道"),
            "community", _DAY),
    "停电": (("{p}停电了，什么时候恢复？", "{p}突然停电，冰箱里的东西都要坏了", "我们{p}断电两个小时了",
             "{p}又停电了，也不提前通知", "请问{p}停电是检修吗", "{p}没电了，电梯也停了，老人被困",
             "住{p}，整栋楼都没有电", "{p}跳闸了还是停电？一片漆黑"), "community", _DAY),
    "异味": (("{p}那边一股臭味，熏得人头疼", "晚上{p}附近有很刺鼻的气味", "{p}又在排放什么？臭气熏天",
             "住在{p}旁边，每天晚上都有化工味", "{p}的异味太大了，窗户都不敢开", "{p}附近恶臭，孩子咳嗽",
             "请环保部门查一下{p}，味道很大", "{p}周边空气有怪味，是不是偷排", "今晚{p}臭味特别重",
             "{p}那里飘过来的气味很难闻"), "industry", (17, 18, 19, 20, 21, 22)),
    "噪音": (("{p}工地半夜还在施工，噪音太大", "{p}广场舞太吵了，每天晚上", "{p}晚上施工扰民，睡不着",
             "投诉{p}的噪音，已经十一点了还在响", "{p}KTV太吵了", "{p}那边机器轰鸣，吵得人没法休息",
             "{p}夜间施工噪声严重扰民"), "community", (19, 20, 21, 22, 23)),
    "积水": (("{p}积水很深，车都过不去", "下大雨{p}又淹了", "{p}路面积水没过膝盖", "{p}内涝严重，请派人排水",
             "{p}的下水道堵了，全是积水", "{p}积水好几个小时了没人管"), "road", _DAY),
    "燃气": (("{p}闻到很大的煤气味", "{p}好像漏气了，燃气味很重", "{p}天然气停了，没法做饭", "{p}燃气管道有问题吧",
             "住{p}，楼道里一股煤气味", "{p}燃气突然没了，什么情况"), "community", _DAY),
    "道路塌陷": (("{p}路面塌陷了一个大坑", "{p}出现塌陷，很危险", "{p}地面下陷，车都绕着走", "{p}塌了一块，谁来管",
                 "{p}路面塌陷，已经有电动车摔倒", "{p}那个坑越来越大，路面塌了"), "road", _DAY),
    "水质": (("{p}的自来水发黄", "{p}水质有问题，水很浑浊", "{p}放出来的都是黄水", "{p}自来水有味道，能喝吗",
             "{p}水浑浊得像泥汤"), "community", _DAY),
    "食品安全": (("{p}好多孩子拉肚子", "{p}食堂吃了以后腹泻", "{p}学生疑似食物中毒", "我家孩子在{p}吃完午饭上吐下泻",
                 "{p}食堂的饭菜有问题，孩子们都拉肚子"), "school", (11, 12, 13, 14, 17, 18)),
}  # fmt: skip
_NAMES = ("阳光", "锦绣", "幸福", "金桂", "翠湖", "和平", "丽景", "康乐", "东方", "碧水", "明珠", "紫薇", "枫林",
          "盛世", "华府", "书香", "龙湾", "天鹅", "新华", "桃源", "望江", "银杏", "长青", "福星", "嘉禾", "恒大")
_PLACE_KINDS = {"community": ("小区", "花园", "家园", "苑", "新村"), "road": ("路", "大道", "街"),
                "industry": ("工业园", "化工园区", "开发区", "村"), "school": ("小学", "中学", "幼儿园")}
_DETAILS = {"community": ("3栋", "北门", "二期", "这边", "5号楼", ""), "road": ("口", "中段", "和人民路交叉口", ""),
            "industry": ("附近", "那一片", ""), "school": ("", "")}
# Typos citizens make in these words (homophones, a stray space, full-width punctuation).
_TYPOS = (("停水", "停 水"), ("停水", "停氺"), ("噪音", "燥音"), ("噪音", "躁音"), ("燃气", "然气"), ("臭味", "臭 味"),
          ("停电", "停 电"), ("积水", "积 水"), ("塌陷", "塌 陷"), ("，", "，，"), ("？", "？？？"), ("了", "la"))
_STICKERS = ("[发怒]", "[流泪]", "[抓狂]", "[难过]", "")


@dataclasses.dataclass(frozen=True)
class Message:
    """One message of a replay, and what it belongs to (``tag``: "", "spike:N" or "near:N")."""

    at: dt.datetime
    text: str
    openid: str
    tag: str = ""


@dataclasses.dataclass(frozen=True)
class Spike:
    """An injected spike: its theme, place and the times of its messages."""

    number: int
    theme: str
    place: str
    times: tuple[dt.datetime, ...]


@dataclasses.dataclass(frozen=True)
class Replay:
    """A synthetic replay: messages in time order, and the spikes injected into it."""

    messages: list[Message]
    spikes: list[Spike]

    def lines(self) -> list[str]:
        """The replay as the JSON lines ``python -m bot opinion replay`` reads."""
        return [json.dumps({"created_at": m.at.isoformat(), "text": m.text, "openid": m.openid}, ensure_ascii=False)
                for m in self.messages]


def real_messages(data: Path) -> list[str]:
    """The real messages of the shared data folder, each whole and as its title (train_segmented joined back)."""
    texts: list[str] = []
    with (data / "departments" / "dev_raw.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            texts += [f"{row['title']}。{row['body']}", row["title"]]
    with (data / "replies" / "gov_replies.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            texts += [f"{row['title']}。{row['message']}", row["title"]]
    with (data / "departments" / "train_segmented.csv").open(encoding="utf-8") as f:
        texts += [row["text_segmented"].replace(" ", "")[:300] for row in csv.DictReader(f)]
    return [t for t in texts if t.strip()]


def common_places(real: Sequence[str], limit: int = 60) -> list[str]:
    """The places the real messages name most often (as the detector reads them)."""
    counts: collections.Counter[str] = collections.Counter()
    for text in real:
        counts.update(spelling for _, spelling in read_message(text).places)
    return [place for place, _ in counts.most_common(limit)]


def build(real: Sequence[str], seed: int, spikes: int = 8, near_misses: int = 10,
          places: Sequence[str] = ()) -> Replay:
    """Two weeks of ordinary traffic over ``real`` with ``spikes`` spikes and ``near_misses`` near misses.

    ``places`` (from :func:`common_places`) are the real places a third of the spikes happen in.
    """
    rng = random.Random(seed)
    messages: list[Message] = []
    citizens = [f"o{seed}-{i:06d}" for i in range(40_000)]
    for day in range(DAYS):
        start = START + dt.timedelta(days=day)
        volume = (WEEKEND_VOLUME if start.weekday() >= 5 else WEEKDAY_VOLUME) * rng.uniform(0.85, 1.15)
        for hour, weight in enumerate(HOURLY):
            for _ in range(_poisson(rng, volume * weight / sum(HOURLY))):
                at = start + dt.timedelta(hours=hour, seconds=rng.uniform(0, 3600))
                openid = rng.choice(citizens)
                text = rng.choice(SMALL_TALK) if rng.random() < 0.1 else rng.choice(real)
                messages.append(Message(at, text, openid))
                if rng.random() < 0.125:
                    again = text if rng.random() < 0.5 else rng.choice(FOLLOW_UPS)
                    messages.append(Message(at + dt.timedelta(minutes=rng.uniform(1, 30)), again, openid))
    injected: list[Spike] = []
    for number in range(spikes):
        theme = rng.choice(sorted(SPIKES))
        templates, kind, hours = SPIKES[theme]
        place = rng.choice(places) if places and rng.random() < 1 / 3 else _place(rng, kind)
        day = rng.randrange(DAYS)
        begin = START + dt.timedelta(days=day, hours=rng.choice(hours), minutes=rng.uniform(0, 60))
        size, minutes = rng.randint(10, 40), rng.uniform(20, 90)
        # Front-loaded or even arrivals: news spreads, or people keep noticing.
        front = rng.random() < 0.5
        offsets = sorted((rng.betavariate(1, 2) if front else rng.random()) * minutes for _ in range(size))
        times = tuple(begin + dt.timedelta(minutes=m) for m in offsets)
        for at in times:
            openid = rng.choice(citizens)
            messages.append(Message(at, _spike_text(rng, templates, place, kind), openid, f"spike:{number}"))
        injected.append(Spike(number, theme, place, times))
    for number in range(near_misses):
        theme = rng.choice(sorted(SPIKES))
        templates, kind, hours = SPIKES[theme]
        begin = START + dt.timedelta(days=rng.randrange(DAYS), hours=rng.choice(hours))
        if number % 2 == 0:  # a handful in one place over a day
            place = _place(rng, kind)
            span = rng.uniform(8, 24)
            for _ in range(rng.randint(3, 6)):
                at = begin + dt.timedelta(hours=rng.uniform(0, span))
                messages.append(Message(at, _spike_text(rng, templates, place, kind), rng.choice(citizens),
                                        f"near:{number}"))
        else:  # one theme from five places over a day
            span = rng.uniform(8, 24)
            for _ in range(5):
                at = begin + dt.timedelta(hours=rng.uniform(0, span))
                messages.append(Message(at, _spike_text(rng, templates, _place(rng, kind), kind),
                                        rng.choice(citizens), f"near:{number}"))
    messages.sort(key=lambda m: m.at)
    return Replay(messages, injected)


def _place(rng: random.Random, kind: str) -> str:
    return rng.choice(_NAMES) + rng.choice(_PLACE_KINDS[kind])


def _spike_text(rng: random.Random, templates: Sequence[str], place: str, kind: str) -> str:
    where = "" if rng.random() < 0.15 else place + rng.choice(_DETAILS[kind])
    text = rng.choice(templates).format(p=where)
    if rng.random() < 0.2:
        for wrong, typo in rng.sample(_TYPOS, 3):
            text = text.replace(wrong, typo, 1)
    if rng.random() < 0.3:
        text = text.replace("，", ",").replace("？", "?") + rng.choice(_STICKERS)
    if rng.random() < 0.2:
        text = to_traditional(text)
    return text


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method is fine for the hourly means here (at most a hundred or so).
    limit, k, p = pow(2.718281828459045, -mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k
