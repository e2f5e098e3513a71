"""Figures of the rising-issue detector on synthetic replays (``make opinion-eval``); see research/LOG.md.

``python -m research.opinion.evaluate [--data ../shared/data] [--seeds 0-4] [--write DIR]`` builds one two-week
replay per seed (:mod:`research.opinion.build`), runs it through ``cases.opinion.read_replay`` and ``replay`` —
the code path of ``python -m bot opinion replay`` — and prints a line per seed and the totals:

* **detected**: spikes with an alert within 30 minutes of their 8th message (n/N), and the median and worst
  delay from the 8th message to that alert (negative: alerted before the 8th message);
* **false alerts per week**: alerts whose lines are not mostly one spike's, plus second alerts of a spike already
  alerted (one spike must give one alert), over the two simulated weeks; near misses that alarmed are counted
  among them and also shown on their own;
* **labelled**: detected spikes whose alert names the spike's theme and place.

Seeds 0–4 were used to tune the detector; seeds 100–109 were run once, after the tuned detector was committed.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime as dt
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from cases.opinion import Settings, read_message, read_replay, replay
from research.opinion.build import DAYS, Replay, build, common_places, real_messages

TARGET = dt.timedelta(minutes=30)


def score(run: Replay, alerts: list[dict[str, Any]]) -> dict[str, Any]:
    """Detection, delays, false alerts and labels of ``alerts`` on ``run``."""
    tags = [m.tag for m in run.messages]
    alerted: dict[int, dict[str, Any]] = {}
    false, near, duplicates = 0, 0, 0
    for alert in alerts:
        owners = collections.Counter(tags[i] for i in alert["lines"])
        tag, n = owners.most_common(1)[0]
        if not tag.startswith("spike:") or n * 2 < len(alert["lines"]):
            false += 1
            near += tag.startswith("near:")
            continue
        number = int(tag.split(":")[1])
        if number in alerted:
            duplicates += 1
        else:
            alerted[number] = alert
    detected, delays, labelled = 0, [], 0
    for spike in run.spikes:
        alert = alerted.get(spike.number)
        if alert is None or len(spike.times) < 8:
            continue
        delay = dt.datetime.fromisoformat(alert["at"]) - spike.times[7]
        delays.append(delay.total_seconds() / 60)
        if delay <= TARGET:
            detected += 1
        place = dict(read_message(spike.place).places)
        labelled += alert["theme"] == spike.theme and alert["place"] in place.values()
    return {"spikes": len(run.spikes), "detected": detected, "delays": delays, "false": false + duplicates,
            "near": near, "duplicates": duplicates, "labelled": labelled, "alerts": len(alerts),
            "messages": len(run.messages)}


def _seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        seeds += range(int(first), int(last or first) + 1)
    return seeds


def _line(name: str, r: dict[str, Any], weeks: float) -> str:
    delays = r["delays"]
    median = f"{statistics.median(delays):6.1f}" if delays else "     -"
    worst = f"{max(delays):6.1f}" if delays else "     -"
    return (f"{name:>10}  {r['messages']:>7}  {r['detected']:>3}/{r['spikes']:<3}  {median}  {worst}  "
            f"{r['false']:>5} ({r['false'] / weeks:4.2f}/wk)  {r['near']:>4}  {r['duplicates']:>4}  "
            f"{r['labelled']:>3}/{r['spikes']:<3}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--seeds", default="0-4", help="e.g. 0-4 (tuning) or 100-109 (fresh)")
    parser.add_argument("--min-count", type=int, default=None, help="override Settings.min_count")
    parser.add_argument("--alpha", type=float, default=None, help="override Settings.alpha")
    parser.add_argument("--window", type=int, default=None, help="override Settings.window (minutes)")
    parser.add_argument("--write", type=Path, default=None, help="also write each replay's JSON lines here")
    args = parser.parse_args(argv)
    if not (args.data / "departments" / "dev_raw.csv").exists():
        print(f"{args.data}/departments/dev_raw.csv not found (pass --data)", file=sys.stderr)
        return 2
    started = time.monotonic()
    real = real_messages(args.data)
    places = common_places(real)
    settings = Settings()
    if args.min_count is not None:
        settings = dataclasses.replace(settings, min_count=args.min_count)
    if args.alpha is not None:
        settings = dataclasses.replace(settings, alpha=args.alpha)
    if args.window is not None:
        settings = dataclasses.replace(settings, window=dt.timedelta(minutes=args.window))
    weeks_each = DAYS / 7
    print(f"{len(real)} real messages; detector {settings}")
    print("      seed  messages  detected  median  worst  false alerts   near  dupl  labelled   (delays in minutes "
          "from the 8th message)")
    total: dict[str, Any] = collections.defaultdict(int)
    total["delays"] = []
    for seed in _seeds(args.seeds):
        run = build(real, seed, places=places)
        lines = run.lines()
        if args.write:
            args.write.mkdir(parents=True, exist_ok=True)
            (args.write / f"replay-{seed}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        result = score(run, list(replay(read_replay(lines), settings)))
        print(_line(str(seed), result, weeks_each))
        for key, value in result.items():
            total[key] += value
    weeks = weeks_each * len(_seeds(args.seeds))
    print(_line("all", total, weeks))
    print(f"({weeks:.0f} simulated weeks, {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
