"""Rising-issue alerts (舆情预警): a theme or a place rising far above its own baseline within the hour.

:class:`Detector` is pure and incremental: it is fed one message at a time (``observe``), in time order, and
returns the alerts that message raises. It touches no database, clock or network, so the running app, the
``python -m bot opinion replay`` command and the evaluation in ``research/opinion/`` run the very same code. Its
state is rebuilt by feeding it the last :data:`HISTORY_DAYS` days of messages and discarding what it returns
(those alerts were raised at the time); the baseline forgets with a one-week half-life, so older messages barely
matter.

**What a message is about.** A *theme* comes from a curated vocabulary of issue words (停水, 停电, 异味, 噪音 …,
each with its synonyms and the common typos 燥音/躁音/然气), read after the message is normalised (Traditional →
Simplified, full-width → half-width) and compacted (spaces and filler symbols dropped, so "停 水" and "停*水"
count). A vocabulary rather than free keywords from the segmenter: every keyword would be a hypothesis tested on
every message, and hundreds of them would turn chance co-occurrences into false alerts; a vocabulary also gives the
supervisor a readable label. A spike about something outside the vocabulary is still caught through its *place*:
a name followed by the kind of place it is (小区, 花园, 村, 路, 工业园 …), as ``cases.stats.extract_places`` reads
them, with the kinds a message names more often (工业园, 园区, 社区, 新村, 大厦) and generic words (道路, 农村)
left out. Places are compared by their last two name characters and their kind, so "反映阳光小区", "住阳光小区"
and "陽光小區" are one place; the alert shows the most common full spelling.

**Baseline.** Every message counts towards the keys theme, place and theme+place. A key's expected count in the
window is its share of all past messages (exponentially decayed, with a prior for keys never seen) times the
number of messages in the window now. Scaling by the traffic of the moment is what keeps the daily and weekly
rhythm quiet: a busy Monday morning raises every key's expectation together; only a key rising against the rest
alarms. Messages that left the window enter the baseline; messages already grouped into an alert do not (the
baseline learns ordinary traffic, not the spikes it reported).

**Threshold.** Counts are distinct citizens (one angry citizen sending ten messages is one voice). A key alarms
when at least ``min_count`` citizens wrote in the window and the Poisson tail P(X ≥ count | expected) is below
``alpha`` — strict, because every key is tested on every message.

**One spike, one alert.** When a key alarms it opens an *incident*: the messages of the window with that key are
grouped into it, and later messages with the key are linked to it (returned as updates) until it has been quiet
for ``quiet`` or the 48-hour clock has run out. Grouped messages no longer count for any key, so the theme and the
place of a theme+place spike do not alarm again. Keys are tried most specific first (theme+place, place, theme);
a theme or place alert names the place or theme most of its messages share, and then follows that pair.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import math
import re
from collections.abc import Hashable, Iterable, Iterator
from typing import Any

from text.normalize import normalize
from text.script import compact

HISTORY_DAYS = 14
# The public-opinion clock an alert opens: first response, verified account, resolution (hours).
CLOCK_HOURS = (5, 24, 48)

# Theme → the words that name it (Simplified; longer words win where they overlap, so 煤气味 is gas, not a smell).
THEMES: dict[str, tuple[str, ...]] = {
    "停水": ("停水", "断水", "没水", "没有水", "无水", "不来水", "没来水", "水停了", "停供水", "供水中断", "停氺",
             "没自来水", "自来水停", "水压太低", "水压很低"),
    "停电": ("停电", "断电", "没电", "没有电", "跳闸", "电停了", "供电中断", "停了电", "突然黑了"),
    "水质": ("水质", "水浑", "浑浊", "黄水", "水发黄", "水有异味", "水有味道", "水很脏", "水里有虫"),
    "异味": ("异味", "臭味", "臭气", "恶臭", "难闻", "刺鼻", "气味", "味道很大", "味道大", "味道很重", "怪味",
             "臭烘烘", "熏得", "熏人", "焦糊味", "化工味", "臭"),
    "噪音": ("噪音", "噪声", "燥音", "躁音", "扰民", "太吵", "很吵", "好吵", "吵闹", "吵死", "吵得", "轰鸣"),
    "积水": ("积水", "内涝", "被淹", "水淹", "淹了", "排水不畅", "下水道堵", "下水道返水", "水漫"),
    "燃气": ("燃气", "煤气", "天然气", "液化气", "漏气", "然气", "煤气味", "燃气味", "天然气味"),
    "道路塌陷": ("塌陷", "塌方", "坍塌", "下陷", "地陷", "陷下去", "天坑", "路面塌", "塌了", "沉降"),
    "供暖": ("供暖", "暖气", "不热"),
    "垃圾": ("垃圾",),
    "油烟": ("油烟",),
    "粉尘": ("粉尘", "扬尘", "灰尘大", "灰很大"),
    "焚烧": ("焚烧", "烧垃圾", "黑烟", "浓烟", "冒烟"),
    "污水": ("污水", "排污", "偷排", "废水", "黑臭水"),
    "电梯": ("电梯",),
    "路灯": ("路灯",),
    "井盖": ("井盖",),
    "拥堵": ("拥堵", "堵车", "堵死了"),
    "违建": ("违章建筑", "违建", "私搭乱建"),
    "停车": ("停车", "占道"),
    "欠薪": ("拖欠工资", "欠薪", "拖欠", "讨薪"),
    "物业": ("物业",),
    "火情": ("着火", "火灾", "起火", "失火", "火警"),
    "交通事故": ("车祸", "交通事故", "追尾"),
    "食品安全": ("食物中毒", "食品安全", "拉肚子", "腹泻", "上吐下泻"),
    "爆炸": ("爆炸", "巨响"),
    "信号网络": ("没信号", "断网", "没网"),
}  # fmt: skip
_THEME_OF = {word: theme for theme, words in THEMES.items() for word in words}
_THEME_WORDS = re.compile("|".join(map(re.escape, sorted(_THEME_OF, key=len, reverse=True))))

# Kinds of place, longest first; 花园/家园 may carry a 小区 after them (阳光花园小区 is 阳光花园).
_PLACE_KINDS = (
    "工业园区", "工业园", "产业园", "科技园", "开发区", "园区", "小区", "花园", "家园", "公园", "新村", "社区", "大厦",
    "公寓", "广场", "大道", "路", "街", "巷", "苑", "村", "镇", "乡", "小学", "中学", "学校", "幼儿园", "医院",
    "卫生院", "菜市场", "市场", "车站", "商场",
)  # fmt: skip
_PLACE = re.compile("(" + "|".join(map(re.escape, sorted(_PLACE_KINDS, key=len, reverse=True))) + ")(小区)?")
# Characters that end a name walking back from its kind: function words, pronouns, verbs that come just before a
# place in a sentence (反映、住、靠近 …), punctuation and digits. cases.stats's list, less 和 (和平新村 is a name).
_NOT_IN_NAME = frozenset(
    "的了在是我你他她它们到从向往去与及就都也还把被给让对于附近旁边口前后里内外上下这那个有没不很请问哪些什么怎"
    "映住靠近说又再已经该本此每各整"
    "，。！？、；：,.!?;: \t\n\"'“”‘’（）()【】[]<>《》0123456789abcdefghijklmnopqrstuvwxyz#@*-_/"
)
# A character right before these kinds makes a common word, not a place (道路, 农村, 城乡, 城镇 …).
_NOT_BEFORE_KIND = {
    "路": frozenset("道马公铁线网电水思出走修上过沿半引来去退套门拦绕让带领岔迷销"),
    "村": frozenset("农乡"),
    "乡": frozenset("城家下老故他异同"),
    "镇": frozenset("城乡村集"),
    "街": frozenset("上逛沿"),
}
# …and these words right after 市场 make it an office or an idea (市场监管局, 市场经济), not a market.
_NOT_AFTER_MARKET = frozenset("监管经化价准主")
_GENERIC_NAMES = frozenset(
    {"老旧", "周边", "所有", "全部", "多个", "部分", "其他", "居民", "咱们", "住宅", "商品", "安置", "城市", "农村",
     "城区", "市区", "本地", "当地", "旧改", "高档", "新建", "开发", "物业", "业主"}
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Reading:
    """What one message is about: its themes, and its places as (key, spelling)."""

    themes: frozenset[str]
    places: tuple[tuple[str, str], ...]


def read_message(text: str) -> Reading:
    """The themes and places of a citizen's message (any script, spaces and filler symbols ignored)."""
    folded, _ = compact(normalize(text).text.lower())
    themes = frozenset(_THEME_OF[m.group(0)] for m in _THEME_WORDS.finditer(folded))
    return Reading(themes, tuple(_places(folded).items()))


def _places(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    previous_end = 0
    for m in _PLACE.finditer(text):
        kind, start = m.group(1), m.start()
        before = text[start - 1] if start else ""
        if before in _NOT_BEFORE_KIND.get(kind, ()) or (kind == "市场" and text[m.end() : m.end() + 1] in
                                                          _NOT_AFTER_MARKET):
            continue
        i = start
        # Walk back over the name, never into the place just found (解放路路口 is 解放路).
        while i > previous_end and start - i < 6 and text[i - 1] not in _NOT_IN_NAME:
            i -= 1
        name = text[i:start]
        if len(name) < 2 or name[-2:] in _GENERIC_NAMES:
            continue
        found.setdefault(name[-2:] + kind, name + kind)
        previous_end = m.end()
    return found


# -- the detector ---------------------------------------------------------------------------------

# A key is ("t", theme), ("p", place) or ("tp", theme, place); tried in this order of specificity.
Key = tuple[str, ...]
_ORDER = {"tp": 0, "p": 1, "t": 2}


@dataclasses.dataclass(frozen=True)
class Settings:
    """The detector's parameters (tuned on the evaluation's seeds 0–4; see research/LOG.md)."""

    window: dt.timedelta = dt.timedelta(minutes=60)
    min_count: int = 5
    alpha: float = 1e-7
    half_life: dt.timedelta = dt.timedelta(days=7)
    quiet: dt.timedelta = dt.timedelta(hours=3)
    # Prior share of a key never seen, and its weight in messages: a theme is common, a place rare.
    prior_share: tuple[tuple[str, float], ...] = (("t", 0.02), ("p", 0.002), ("tp", 0.0005))
    prior_weight: float = 500.0
    # A theme or place alert names the place or theme at least this share of its messages have.
    label_share: float = 0.5


@dataclasses.dataclass(frozen=True)
class Alert:
    """An incident raised (``update`` False) or a message linked to an open one (``update`` True).

    ``keys`` are the caller's keys of the messages grouped (for an update, the one message linked); ``count`` is
    the distinct citizens among them and ``expected`` what the baseline expected in the window.
    """

    incident: int
    at: dt.datetime
    theme: str | None
    place: str | None
    count: int
    expected: float
    keys: tuple[Hashable, ...]
    update: bool = False

    def clock(self) -> tuple[dt.datetime, ...]:
        """The deadlines of the public-opinion clock the incident opens (5 h, 24 h, 48 h after ``at``)."""
        return tuple(self.at + dt.timedelta(hours=h) for h in CLOCK_HOURS)


@dataclasses.dataclass
class _Entry:
    at: dt.datetime
    key: Hashable
    citizen: Hashable
    keys: tuple[Key, ...]
    places: dict[str, str]
    incident: int | None = None


@dataclasses.dataclass
class _Incident:
    number: int
    key: Key
    theme: str | None
    place: str | None
    opened_at: dt.datetime
    last_at: dt.datetime


class Detector:
    """Rising-issue detection over a stream of messages in time order; see the module docstring."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self._window: collections.deque[_Entry] = collections.deque()
        # key → citizen → messages of that citizen in the window not yet grouped into an incident
        self._live: dict[Key, collections.Counter[Hashable]] = {}
        self._live_entries: dict[Key, list[_Entry]] = collections.defaultdict(list)
        # Decayed message counts: each key's, and all messages' (the baseline).
        self._seen: dict[Key, float] = {}
        self._seen_total = 0.0
        self._decayed_at: dt.datetime | None = None
        self._last: dt.datetime | None = None
        self._incidents: list[_Incident] = []
        self._numbers = 0
        self._prior = dict(self.settings.prior_share)
        self._tau = self.settings.half_life.total_seconds() / math.log(2)

    def observe(self, at: dt.datetime, text: str, key: Hashable, citizen: Hashable | None = None) -> list[Alert]:
        """Feed one message (``key`` is the caller's id for it); returns the alerts and updates it causes.

        ``at`` must be timezone-aware and not earlier than the previous message's; ``citizen`` (an openid)
        makes repeated messages of one person count once (None: every message is its own citizen).
        """
        if at.tzinfo is None:
            raise ValueError("the time of a message needs a UTC offset")
        if self._last is not None and at < self._last:
            raise ValueError(f"messages must come in time order ({at.isoformat()} after {self._last.isoformat()})")
        self._last = at
        self._expire(at)
        reading = read_message(text)
        places = dict(reading.places)
        keys: list[Key] = [("t", t) for t in sorted(reading.themes)]
        keys += [("p", p) for p in sorted(places)]
        keys += [("tp", t, p) for t in sorted(reading.themes) for p in sorted(places)]
        keys.sort(key=lambda k: _ORDER[k[0]])
        entry = _Entry(at, key, key if citizen is None else ("citizen", citizen), tuple(keys), places)
        self._window.append(entry)
        incident = self._open_incident_for(entry)
        if incident is not None:
            incident.last_at = at
            entry.incident = incident.number
            return [Alert(incident.number, at, incident.theme, incident.place, 1, 0.0, (key,), update=True)]
        for k in keys:
            self._live.setdefault(k, collections.Counter())[entry.citizen] += 1
            self._live_entries[k].append(entry)
        for k in keys:
            alert = self._test(k, at)
            if alert is not None:
                return [alert]
        return []

    # -- internals --------------------------------------------------------------------------------

    def _expected(self, k: Key) -> float:
        prior = self._prior[k[0]]
        weight = self.settings.prior_weight
        share = (self._seen.get(k, 0.0) + prior * weight) / (self._seen_total + weight)
        return share * len(self._window)

    def _test(self, k: Key, at: dt.datetime) -> Alert | None:
        count = len(self._live.get(k, ()))
        if count < self.settings.min_count:
            return None
        expected = self._expected(k)
        if poisson_tail(count, expected) >= self.settings.alpha:
            return None
        self._numbers += 1
        members = list(self._live_entries[k])
        focus, theme, place = _focus(k, members, self.settings.label_share)
        for entry in members:
            self._group(entry, self._numbers)
        self._incidents.append(_Incident(self._numbers, focus, theme, place, at, at))
        return Alert(self._numbers, at, theme, place, count, expected, tuple(e.key for e in members))

    def _group(self, entry: _Entry, number: int) -> None:
        entry.incident = number
        for k in entry.keys:
            self._forget(k, entry)

    def _open_incident_for(self, entry: _Entry) -> _Incident | None:
        quiet, clock = self.settings.quiet, dt.timedelta(hours=CLOCK_HOURS[-1])
        self._incidents = [i for i in self._incidents if entry.at - i.last_at <= quiet and
                           entry.at - i.opened_at <= clock]
        for incident in self._incidents:
            if incident.key in entry.keys:
                return incident
        # "又停水了" names no place: while a 停水 incident is open somewhere, that is most likely where.
        if not entry.places:
            for incident in reversed(self._incidents):
                if ("t", incident.key[1]) in entry.keys and incident.key[0] == "tp":
                    return incident
        return None

    def _expire(self, now: dt.datetime) -> None:
        self._decay(now)
        horizon = now - self.settings.window
        while self._window and self._window[0].at <= horizon:
            entry = self._window.popleft()
            weight = self._weight(entry.at)
            self._seen_total += weight
            if entry.incident is not None:
                continue
            for k in entry.keys:
                self._seen[k] = self._seen.get(k, 0.0) + weight
                self._forget(k, entry)

    def _forget(self, k: Key, entry: _Entry) -> None:
        # The entry no longer counts for ``k`` in the window (it left, or was grouped into an incident).
        citizens = self._live[k]
        citizens[entry.citizen] -= 1
        if citizens[entry.citizen] <= 0:
            del citizens[entry.citizen]
        entries = self._live_entries[k]
        entries.remove(entry)
        if not entries:
            del self._live[k], self._live_entries[k]

    def _weight(self, at: dt.datetime) -> float:
        # Baseline counts are kept as of ``_decayed_at``; only their ratios are read, so one scale suffices.
        assert self._decayed_at is not None
        return math.exp((at - self._decayed_at).total_seconds() / self._tau)

    def _decay(self, now: dt.datetime) -> None:
        # Rescale the baseline at most once an hour (cheap), forgetting keys that have faded away.
        if self._decayed_at is None:
            self._decayed_at = now
            return
        elapsed = (now - self._decayed_at).total_seconds()
        if elapsed < 3600:
            return
        factor = math.exp(-elapsed / self._tau)
        self._seen_total *= factor
        self._seen = {k: v * factor for k, v in self._seen.items() if v * factor > 0.01}
        self._decayed_at = now


def _focus(k: Key, members: list[_Entry], share: float) -> tuple[Key, str | None, str | None]:
    """The key an incident follows and the theme and place it shows.

    A theme (or place) alert whose messages mostly name one place (or theme) — among those that name any, and
    at least two — is that theme+place: it follows that pair, and messages about the theme elsewhere stay free.
    """
    theme: str | None = None
    place_key: str | None = None
    if k[0] == "tp":
        theme, place_key = k[1], k[2]
    elif k[0] == "p":
        place_key = k[1]
        themes = collections.Counter(t[1] for e in members for t in e.keys if t[0] == "t")
        theme = _dominant(themes, sum(1 for e in members if any(t[0] == "t" for t in e.keys)), share)
    else:
        theme = k[1]
        places = collections.Counter(p for e in members for p in e.places)
        place_key = _dominant(places, sum(1 for e in members if e.places), share)
    focus: Key = ("tp", theme, place_key) if theme is not None and place_key is not None else k
    if place_key is None:
        return focus, theme, None
    spellings = [e.places[place_key] for e in members if place_key in e.places]
    # The spelling most others end with, the longest among equals: 反映阳光小区 and 阳光小区 give 阳光小区.
    best = max(set(spellings), key=lambda s: (sum(o.endswith(s) for o in spellings), len(s), s))
    return focus, theme, best


def _dominant(counts: collections.Counter[str], naming: int, share: float) -> str | None:
    if not counts:
        return None
    top, n = counts.most_common(1)[0]
    return top if n >= 2 and n >= share * naming else None


def poisson_tail(count: int, mean: float) -> float:
    """P(X ≥ count) for X ~ Poisson(mean), summed upwards from ``count`` (exact for tiny tails)."""
    if count <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    log_term = -mean + count * math.log(mean) - math.lgamma(count + 1)
    total, i = 0.0, count
    while True:
        term = math.exp(log_term)
        total += term
        i += 1
        log_term += math.log(mean) - math.log(i)
        if term < total * 1e-12 or i > count + 10_000:
            return min(total, 1.0)


# -- the replay contract --------------------------------------------------------------------------


class ReplayError(ValueError):
    """A line of a replay input that cannot be read (``line`` is 1-based, as editors count)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line


def read_replay(lines: Iterable[str]) -> list[tuple[int, dt.datetime, str, str]]:
    """(0-based line number, time, text, openid) of every message of a replay input; blank lines skipped.

    Raises :class:`ReplayError` for the first line that is not a JSON object with a string ``text`` and
    ``openid`` and an ISO 8601 ``created_at`` with a UTC offset, or that is earlier than the line before it.
    """
    out: list[tuple[int, dt.datetime, str, str]] = []
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        number = index + 1
        try:
            item: Any = json.loads(line)
        except ValueError as exc:
            raise ReplayError(number, f"not JSON ({exc})") from None
        if not isinstance(item, dict):
            raise ReplayError(number, "not a JSON object")
        for field in ("created_at", "text", "openid"):
            if not isinstance(item.get(field), str):
                raise ReplayError(number, f'"{field}" missing or not a string')
        try:
            at = dt.datetime.fromisoformat(item["created_at"])
        except ValueError:
            raise ReplayError(number, f'"created_at" is not an ISO 8601 time: {item["created_at"]!r}') from None
        if at.tzinfo is None:
            raise ReplayError(number, f'"created_at" has no UTC offset: {item["created_at"]!r}')
        if out and at < out[-1][1]:
            raise ReplayError(number, f'"created_at" {item["created_at"]} is earlier than the line before')
        out.append((index, at, item["text"], item["openid"]))
    return out


def replay(
    messages: Iterable[tuple[int, dt.datetime, str, str]], settings: Settings | None = None
) -> Iterator[dict[str, Any]]:
    """The alerts raised over ``messages`` (from :func:`read_replay`), as the replay command prints them."""
    detector = Detector(settings)
    for number, at, text, openid in messages:
        for alert in detector.observe(at, text, number, openid):
            if not alert.update:
                yield {"at": alert.at.isoformat(), "theme": alert.theme, "place": alert.place,
                       "count": alert.count, "lines": list(alert.keys)}
