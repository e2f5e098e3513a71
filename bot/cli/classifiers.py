"""Commands for the shipped models: ``train``, ``evaluate``, ``classify`` (the triage classifiers) and
``train-guard``, ``evaluate-guard``, ``check-reply`` (the reply checks).

None of them needs the app or a database: they read the shared data folder and the model artifacts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from bot.cli.common import data_option, heldout_option

# -- the triage classifiers -------------------------------------------------------------------------


@click.command("train")
@data_option("The shared data folder (departments/).")
@click.option("--dev-only", is_flag=True, help="Development run: report the dev sets, leave the held-out set unread.")
@click.option("--intent-only", is_flag=True, help="Train the intent and emergency-kind models only.")
def train_cmd(data: Path, dev_only: bool, intent_only: bool) -> None:
    """Train the intent and department classifiers into handlers/model/ and print the metrics report."""
    from bot.training.train import train as run_training

    if not (data / "departments" / "train_segmented.csv").exists():
        raise click.UsageError(f"{data}/departments/train_segmented.csv not found (pass --data)")
    report = run_training(data, heldout=not dev_only, department=not intent_only)
    click.echo(json.dumps(report, ensure_ascii=False, indent=2))


@click.command("evaluate")
@data_option("The shared data folder; without it only the intent figures are printed.")
@click.option("--dev-only", is_flag=True, help="Report the dev sets only, leaving the held-out set unread.")
def evaluate_cmd(data: Path, dev_only: bool) -> None:
    """Print the classifiers' target figures (held-out and dev intents, department dev set, speed, memory)."""
    from bot.training.train import evaluate as run_evaluation

    shared = data if (data / "departments" / "dev_raw.csv").exists() else None
    click.echo(json.dumps(run_evaluation(shared, heldout=not dev_only), ensure_ascii=False, indent=2))


@click.command("classify")
def classify_cmd() -> None:
    """JSON lines with "text" on stdin → one JSON line per input (intent, department, emergency, reasons)."""
    from handlers.classify import shipped

    classifier = shipped()
    for number, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            text = item["text"]
            if not isinstance(text, str):
                raise TypeError("text must be a string")
        except (ValueError, KeyError, TypeError) as exc:
            click.echo(json.dumps({"error": f"line {number}: {exc}"}, ensure_ascii=False))
            continue
        t = classifier.classify(text)
        click.echo(
            json.dumps(
                {
                    "text": text,
                    "intent": t.intent,
                    "department": t.department,
                    "emergency": t.emergency,
                    "emergency_kind": t.emergency_kind,
                    "emergency_tier": t.emergency_tier,
                    "confidence": {"intent": t.confidence_intent, "department": t.confidence_department},
                    "needs_human": t.needs_human,
                    "reasons": list(t.reasons),
                },
                ensure_ascii=False,
            )
        )


@click.command("evaluate-emergency")
@data_option("The shared data folder: its real citizens' messages are counted for false alarms.")
@heldout_option("A held-out CSV (text,label,kind; label emergency / chitchat / ordinary) to score.")
def evaluate_emergency_cmd(data: Path, heldout: Path | None) -> None:
    """Print the emergency tiers' figures: certain replies on real messages, recall and kinds on a held-out set."""
    from bot.training.emergency import evaluate as run_evaluation

    shared = data if (data / "departments" / "dev_raw.csv").exists() else None
    if shared is None and heldout is None:
        raise click.UsageError(f"{data}/departments/dev_raw.csv not found (pass --data or --heldout)")
    click.echo(json.dumps(run_evaluation(shared, heldout), ensure_ascii=False, indent=2))


# -- the reply guard -----------------------------------------------------------------------------


@click.command("train-guard")
@data_option("The shared data folder (offensive/, replies/).")
def train_guard_cmd(data: Path) -> None:
    """Train the reply guard's offensive-language model into replies/model/ and print the metrics report."""
    from bot.training.guard import train as run_training

    for needed in ("offensive/train.csv", "replies/gov_replies.csv"):
        if not (data / needed).exists():
            raise click.UsageError(f"{data}/{needed} not found (pass --data)")
    click.echo(json.dumps(run_training(data), ensure_ascii=False, indent=2))


@click.command("evaluate-guard")
@data_option("The shared data folder; without it only the candidate-reply figures are printed.")
@heldout_option("Score only this held-out CSV of candidate templates (text,label improper/proper,category).")
def evaluate_guard_cmd(data: Path, heldout: Path | None) -> None:
    """Print the guard's target figures (candidates caught and refused, real replies flagged, speed)."""
    from bot.training.guard import evaluate as run_evaluation
    from bot.training.guard import heldout_figures

    if heldout is not None:
        click.echo(json.dumps(heldout_figures(heldout), ensure_ascii=False, indent=2))
        return
    shared = data if (data / "replies" / "gov_replies.csv").exists() else None
    click.echo(json.dumps(run_evaluation(shared), ensure_ascii=False, indent=2))


def _check_reply_line(line: str) -> dict[str, Any]:
    from replies.guard import check_text

    try:
        item = json.loads(line)
        text = item["text"] if isinstance(item, dict) else None
        if not isinstance(text, str):
            raise TypeError("a JSON object with a string field 'text' is required")
    except (ValueError, KeyError, TypeError) as exc:
        reason = "不是有效的JSON" if isinstance(exc, ValueError) else "缺少文本字段text"
        return {"ok": False, "violations": [{"rule": "bad_input", "span": [0, 0], "message": f"输入无效：{reason}"}]}
    violations = check_text(text, has_deadline=bool(item.get("has_deadline", False)))
    return {
        "ok": not violations,
        "violations": [{"rule": v.rule, "span": list(v.span), "message": v.message} for v in violations],
    }


@click.command("check-reply")
def check_reply_cmd() -> None:
    """JSON lines with "text" on stdin → one JSON line per input: {"ok", "violations"} (no database needed)."""
    for line in sys.stdin:
        if not line.strip():
            continue
        click.echo(json.dumps(_check_reply_line(line), ensure_ascii=False))


COMMANDS = (
    train_cmd,
    evaluate_cmd,
    classify_cmd,
    evaluate_emergency_cmd,
    train_guard_cmd,
    evaluate_guard_cmd,
    check_reply_cmd,
)
