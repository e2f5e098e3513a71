"""Rising-issue alerts (舆情预警): what a supervisor would notice, and the replay command's contract.

A burst about one thing in one place alerts once, with the right theme, place and messages; ordinary traffic —
a daily rhythm, a Monday as busy as last Monday, one citizen writing ten times — does not. No shared data needed.
"""
from __future__ import annotations

import datetime as dt
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cases.opinion import Alert, Detector, ReplayError, poisson_tail, read_message, read_replay
from tests.conftest import ROOT

PYTHON = str(ROOT / ".venv" / "bin" / "python")
if not Path(PYTHON).exists():
    PYTHON = sys.executable

TZ = dt.timezone(dt.timedelta(hours=8))
MONDAY = dt.datetime(2025, 3, 3, tzinfo=TZ)
# Ordinary traffic: many issues in many places, and messages about nothing in particular.
ISSUES = ("停水了", "停电了", "有异味", "噪音扰民", "路灯不亮", "垃圾没人清运", "井盖丢了", "电梯坏了", "停车难",
          "物业不作为", "工资被拖欠", "油烟很大", "路面积水", "违章建筑", "堵车严重", "天然气费用太贵")
NAMES = ("锦绣", "幸福", "金桂", "翠湖", "和平", "丽景", "康乐", "东方", "碧水", "明珠", "紫薇", "枫林")
PLACES = [a + b for a in NAMES for b in ("小区", "花园", "路", "村")]
OTHER = ("你好", "社保卡怎么补办", "请问营业时间", "谢谢", "人工客服", "孩子入学需要什么材料", "公积金怎么提取")
# Share of a day's messages in each hour: quiet at night, peaks mid-morning and in the evening.
HOURLY = (1, 1, 0, 0, 0, 1, 2, 4, 8, 12, 14, 12, 8, 8, 10, 10, 9, 8, 9, 12, 14, 12, 6, 3)


def ordinary(days: int, per_day: int, seed: int = 1, start: dt.datetime = MONDAY) -> list[tuple[dt.datetime, str, str]]:
    """(time, text, openid) of ``days`` days of ordinary traffic, ``per_day`` messages a day, in time order."""
    rng = random.Random(seed)
    out = []
    for day in range(days):
        for _ in range(per_day):
            hour = rng.choices(range(24), HOURLY)[0]
            at = start + dt.timedelta(days=day, hours=hour, seconds=rng.uniform(0, 3600))
            text = (f"{rng.choice(PLACES)}{rng.choice(ISSUES)}" if rng.random() < 0.7 else rng.choice(OTHER))
            out.append((at, text, f"o{rng.randrange(100_000)}"))
    return sorted(out)


def run(messages: list[tuple[dt.datetime, str, str]], detector: Detector | None = None) -> list[Alert]:
    detector = detector or Detector()
    alerts = []
    for number, (at, text, openid) in enumerate(messages):
        alerts += detector.observe(at, text, number, openid)
    return alerts


def burst(at: dt.datetime, texts: list[str], minutes: float = 30) -> list[tuple[dt.datetime, str, str]]:
    """``texts`` sent by different citizens, evenly over ``minutes`` from ``at``."""
    step = dt.timedelta(minutes=minutes / len(texts))
    return [(at + i * step, text, f"burst-{i}") for i, text in enumerate(texts)]


WATER = ["阳光小区又停水了，什么时候来水？", "阳光小区3栋停水一上午了", "请问阳光小区为什么停水", "我们阳光小区没水了",
         "阳光小区停水也不通知", "阳光小区北门这边断水了", "又停水了！阳光小区", "阳光小区停 水了，做饭都不行",
         "住阳光小区，家里没水", "阳光小区自来水停了大半天", "阳光小区停水了，老人孩子怎么办", "阳光小区怎么又没水了"]


def _with_burst(texts: list[str]) -> tuple[list[tuple[dt.datetime, str, str]], set[int]]:
    history = ordinary(3, 300)
    start = MONDAY + dt.timedelta(days=3, hours=9)
    before = ordinary(1, 300, seed=2, start=MONDAY + dt.timedelta(days=3))
    spike = burst(start, texts)
    messages = sorted(history + before + spike)
    lines = {i for i, m in enumerate(messages) if m in spike}
    return messages, lines


def test_a_burst_of_water_outage_messages_from_one_community_alerts_once():
    messages, spike_lines = _with_burst(WATER)
    alerts = run(messages)
    raised = [a for a in alerts if not a.update]
    assert len(raised) == 1
    alert = raised[0]
    assert (alert.theme, alert.place) == ("停水", "阳光小区")
    assert set(alert.keys) <= spike_lines and alert.count == len(alert.keys) >= 5
    eighth = sorted(messages[i][0] for i in spike_lines)[7]
    assert alert.at <= eighth
    # The rest of the burst is linked to the same incident, not alerted again.
    assert {a.incident for a in alerts if a.update} <= {alert.incident}
    assert set(alert.keys) | {k for a in alerts if a.update for k in a.keys} >= spike_lines
    assert [d - alert.at for d in alert.clock()] == [dt.timedelta(hours=h) for h in (5, 24, 48)]


def test_a_burst_in_traditional_script_is_detected():
    texts = ["陽光小區又停水了，什麼時候來水？", "陽光小區停水一上午了", "請問陽光小區為什麼停水", "我們陽光小區沒水了",
             "陽光小區停水也不通知", "陽光小區北門這邊斷水了", "又停水了！陽光小區", "陽光小區自來水停了大半天"]
    messages, spike_lines = _with_burst(texts)
    raised = [a for a in run(messages) if not a.update]
    assert [(a.theme, a.place) for a in raised] == [("停水", "阳光小区")]
    assert set(raised[0].keys) <= spike_lines


def test_a_smell_near_an_industrial_park_in_the_evening_alerts():
    texts = ["高新工业园那边一股臭味", "晚上高新工业园附近很刺鼻", "高新工业园又在排放什么？臭气熏天",
             "高新工业园的异味太大了", "请查一下高新工业园，味道很大", "今晚高新工业园臭味特别重"]
    history = ordinary(2, 300)
    messages = sorted(history + burst(MONDAY + dt.timedelta(days=2, hours=20), texts, minutes=45))
    raised = [a for a in run(messages) if not a.update]
    assert [(a.theme, a.place) for a in raised] == [("异味", "高新工业园")]


def test_ordinary_rhythm_does_not_alarm():
    # Eight days, Monday to Monday: morning and evening peaks, quiet nights, the same volume both Mondays.
    assert run(ordinary(8, 600)) == []


def test_a_handful_spread_over_a_day_does_not_alarm():
    history = ordinary(2, 300)
    spread = [(MONDAY + dt.timedelta(days=2, hours=8 + 2 * i), text, f"near-{i}") for i, text in enumerate(WATER[:6])]
    assert [a for a in run(sorted(history + spread)) if not a.update] == []


def test_one_citizen_writing_ten_times_is_one_voice():
    history = ordinary(1, 300)
    same = [(at, text, "the-same-citizen") for at, text, _ in burst(MONDAY + dt.timedelta(days=1, hours=9), WATER[:10])]
    assert run(sorted(history + same)) == []


def test_a_detector_rebuilt_from_history_does_not_alert_an_open_incident_again():
    messages, spike_lines = _with_burst(WATER)
    history = messages[: max(spike_lines) + 1]
    rebuilt = Detector()
    run(history, rebuilt)  # rebuilding: what it returns was raised at the time
    alerts = rebuilt.observe(history[-1][0] + dt.timedelta(minutes=5), "阳光小区还是没水", "new", "someone-new")
    assert [a.update for a in alerts] == [True]


def test_messages_out_of_time_order_are_refused():
    detector = Detector()
    detector.observe(MONDAY + dt.timedelta(hours=1), "你好", 0, "a")
    with pytest.raises(ValueError, match="time order"):
        detector.observe(MONDAY, "你好", 1, "a")
    with pytest.raises(ValueError, match="offset"):
        detector.observe(dt.datetime(2025, 3, 4), "你好", 2, "a")


@pytest.mark.parametrize(
    ("text", "theme", "place"),
    [
        ("陽光小區停水了", "停水", "阳光小区"),
        ("阳光花园小区停 水了", "停水", "阳光花园"),
        ("反映一下锦绣家园的燥音问题", "噪音", "锦绣家园"),
        ("建设路路面塌陷了", "道路塌陷", "建设路"),
        ("楼道里一股煤气味", "燃气", None),
        ("和平新村没电了", "停电", "和平新村"),
    ],
)
def test_what_a_message_is_about(text, theme, place):
    reading = read_message(text)
    assert theme in reading.themes
    assert [spelling for _, spelling in reading.places] == ([place] if place else [])


def test_poisson_tail():
    assert poisson_tail(0, 3.0) == 1.0
    assert poisson_tail(1, 2.0) == pytest.approx(1 - 2.718281828459045**-2)
    assert 0 < poisson_tail(20, 0.1) < 1e-30


# -- python -m bot opinion replay ------------------------------------------------------------------


def replay(tmp_path: Path, lines: list[str]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "replay.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    # No database or Redis: point both somewhere that would fail if the command touched them.
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path}/absent/never.db",
           "REDIS_URL": "redis://127.0.0.1:1/0"}
    return subprocess.run([PYTHON, "-m", "bot", "opinion", "replay", "--input", str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def _line(at: dt.datetime, text: str, openid: str) -> str:
    return json.dumps({"created_at": at.isoformat(), "text": text, "openid": openid}, ensure_ascii=False)


def test_replay_prints_one_json_line_per_alert(tmp_path):
    messages, spike_lines = _with_burst(WATER)
    done = replay(tmp_path, [_line(*m) for m in messages])
    assert done.returncode == 0, done.stderr
    alerts = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(alerts) == 1
    assert set(alerts[0]) == {"at", "theme", "place", "count", "lines"}
    assert (alerts[0]["theme"], alerts[0]["place"]) == ("停水", "阳光小区")
    assert set(alerts[0]["lines"]) <= spike_lines and alerts[0]["count"] == len(alerts[0]["lines"])
    assert dt.datetime.fromisoformat(alerts[0]["at"]).utcoffset() == dt.timedelta(hours=8)
    assert not (tmp_path / "absent").exists()


BAD_LINES = [
    ("{not json", "line 3: not JSON"),
    ('["a list"]', "line 3: not a JSON object"),
    ('{"created_at": "2025-03-03T10:00:00", "text": "停水", "openid": "x"}', 'line 3: "created_at" has no UTC offset'),
    ('{"created_at": "yesterday", "text": "停水", "openid": "x"}', 'line 3: "created_at" is not an ISO 8601 time'),
    ('{"created_at": "2025-03-03T10:00:00+08:00", "openid": "x"}', 'line 3: "text" missing'),
    ('{"created_at": "2025-03-03T08:00:00+08:00", "text": "停水", "openid": "x"}', "is earlier than the line before"),
]


def _good(count: int) -> list[str]:
    return [_line(MONDAY + dt.timedelta(hours=9, minutes=i), "阳光小区停水了", f"c{i}") for i in range(count)]


@pytest.mark.parametrize(("bad", "says"), BAD_LINES)
def test_a_bad_replay_line_is_named(bad, says):
    with pytest.raises(ReplayError, match=re.escape(says)):
        read_replay([*_good(2), bad, *_good(3)[2:]])


def test_blank_lines_are_skipped_and_keep_the_numbering():
    messages = read_replay([_good(1)[0], "", "  ", _good(2)[1]])
    assert [number for number, *_ in messages] == [0, 3]


def test_replay_refuses_a_bad_line_with_status_2_and_prints_nothing(tmp_path):
    done = replay(tmp_path, [*_good(7), BAD_LINES[0][0]])
    assert done.returncode == 2
    assert "line 8: not JSON" in done.stderr
    assert done.stdout == ""
