"""What a report says, as format-free blocks (headings, paragraphs, tables, charts) both renderers draw.

The wording follows how 12345 and 政务服务 weekly reports are written: an overview with the period before for
comparison, then types and departments, then hot issues with examples, then what is late. Every citizen text
reaching here was masked by cases/report.py.
"""

from __future__ import annotations

import dataclasses

from bot.console.names import zh
from bot.reports import charts
from cases import stats
from cases.report import Report, Theme


@dataclasses.dataclass(frozen=True)
class Heading:
    """A section heading (level 1) or a sub-heading (level 2)."""

    text: str
    level: int = 1


@dataclasses.dataclass(frozen=True)
class Para:
    """A paragraph (``small``: notes and definitions)."""

    text: str
    small: bool = False


@dataclasses.dataclass(frozen=True)
class Table:
    """A table with a header row; ``widths`` are relative column widths."""

    header: tuple[str, ...]
    rows: list[tuple[str, ...]]
    widths: tuple[float, ...]


@dataclasses.dataclass(frozen=True)
class Chart:
    """A chart as a PNG, with its caption; ``width`` is the share of the text width it spans."""

    png: bytes
    caption: str
    width: float = 1.0


Block = Heading | Para | Table | Chart


pct = stats.percent


def _change(now: int, before: int) -> str:
    if not before:
        return "上期无数据" if now else "与上期持平"
    delta = (now - before) / before * 100
    return "与上期持平" if abs(delta) < 0.05 else f"{'增加' if delta > 0 else '减少'}{abs(delta):.1f}%"


def blocks(report: Report) -> list[Block]:
    """The report's blocks, in reading order."""
    board, totals, before = report.board, report.board.totals, report.previous
    tz = report.tz
    out: list[Block] = [
        Para(f"统计范围：{report.scope}。数据生成于 {report.generated_at.astimezone(tz):%Y-%m-%d %H:%M}。", small=True),
        Heading("一、总体情况"),
        Para(
            f"本期共收到群众留言{report.messages}条，{_change(report.messages, report.previous_messages)}"
            f"（上期{report.previous_messages}条）；受理诉求{totals.total}件，{_change(totals.total, before.total)}"
            f"（上期{before.total}件），其中合并重复诉求{totals.merged}件、移交紧急电话{totals.handed_over}件。"
            f"响应率{pct(totals.response)}，解决率{pct(totals.solve)}，满意率{pct(totals.satisfaction)}，"
            f"按时办结率{pct(totals.on_time)}。"
        ),
        Table(
            ("指标", "本期", "上期"),
            [
                ("群众留言（条）", str(report.messages), str(report.previous_messages)),
                ("受理诉求（件）", str(totals.total), str(before.total)),
                ("响应率", pct(totals.response), pct(before.response)),
                ("解决率", pct(totals.solve), pct(before.solve)),
                ("满意率", pct(totals.satisfaction), pct(before.satisfaction)),
                ("按时办结率", pct(totals.on_time), pct(before.on_time)),
            ],
            (3, 2, 2),
        ),
        Chart(
            charts.daily(
                board.days, board.messages_by("day"), {d: c.total for d, c in board.case_counts("day").items()}
            ),
            "图1 每日群众留言与受理诉求",
        ),
        Heading("二、诉求类型、渠道与承办部门"),
    ]
    by_type = board.case_counts("type")
    out.append(
        Table(
            ("类型", "受理（件）", "响应率", "满意率", "按时办结率"),
            [
                (zh(k, "case_type"), str(c.total), pct(c.response), pct(c.satisfaction), pct(c.on_time))
                for k, c in by_type.items()
            ],
            (2, 2, 2, 2, 2),
        )
    )
    if board.channels:
        out.append(
            Table(
                ("渠道", "群众留言（条）", "受理诉求（件）"),
                [(zh(k, "channel"), str(v[0]), str(v[1])) for k, v in board.channels.items()],
                (3, 2, 2),
            )
        )
    by_department = board.case_counts("department")
    if by_department:
        out.append(
            Chart(
                charts.hbars([(zh(k, "department"), c.total) for k, c in list(by_department.items())[:12]]),
                "图2 各承办部门受理诉求（件）",
                0.85,
            )
        )
    out.append(
        Table(
            ("承办部门", "受理", "响应率", "解决率", "满意率", "按时办结率", "超期未答复"),
            [
                (
                    zh(k, "department"),
                    str(c.total),
                    pct(c.response),
                    pct(c.solve),
                    pct(c.satisfaction),
                    pct(c.on_time),
                    str(c.open_overdue),
                )
                for k, c in by_department.items()
            ],
            (3.2, 1.2, 1.5, 1.5, 1.5, 1.7, 1.6),
        )
    )
    out.append(Heading("三、热点问题与地点"))
    if report.themes:
        out.append(Heading("（一）本期诉求最多的主题", 2))
        out.append(
            Table(("主题", "本期", "上期", "群众反映示例"), [_theme_row(t) for t in report.themes], (3, 1, 1, 7))
        )
    else:
        out.append(Para("本期没有可归纳的主题。"))
    if report.rising:
        out.append(Heading("（二）比上期明显增多的主题", 2))
        out.append(
            Table(
                ("主题", "本期", "上期", "增加"),
                [(t.label, str(t.count), str(t.previous), f"+{t.change}") for t in report.rising],
                (5, 1.5, 1.5, 1.5),
            )
        )
    if report.places:
        out.append(Heading("（三）诉求集中的地点", 2))
        out.append(
            Table(("地点", "本期", "上期", "群众反映示例"), [_theme_row(t) for t in report.places], (3, 1, 1, 7))
        )
    out.append(Heading("四、未办结与超期诉求"))
    out.append(
        Para(
            f"截至报告生成时，未办结诉求{report.open_cases}件，其中已超过答复期限、尚未答复的{report.overdue_cases}件"
            + ("，按到期先后列出如下（最多20件）。" if report.late else "。")
        )
    )
    if report.late:
        out.append(
            Table(
                ("受理编号", "承办部门", "类型", "答复期限", "诉求摘要"),
                [
                    (
                        c.number,
                        c.department,
                        zh(c.case_type, "case_type"),
                        f"{c.due_at.astimezone(tz):%m-%d %H:%M}",
                        c.summary,
                    )
                    for c in report.late
                ],
                (2.6, 2.4, 1, 1.6, 6),
            )
        )
    if report.campaigns:
        out.append(Heading("五、意见征集"))
        out.append(
            Table(
                ("征集", "本期意见", "主要主题", "采纳", "未采纳", "结果反馈"),
                [
                    (
                        c.title,
                        str(c.opinions),
                        "；".join(c.themes) or "尚未归纳",
                        str(c.adopted),
                        str(c.not_adopted),
                        "已反馈" if c.outcome_sent else "未反馈",
                    )
                    for c in report.campaigns
                ],
                (3, 1.2, 6, 1, 1.2, 1.4),
            )
        )
    out += [
        Heading("指标口径"),
        Para(
            "受理诉求为报告期内受理的诉求；响应率＝群众已收到工作人员答复的诉求÷受理诉求（不含合并、移交）；"
            "解决率＝已办结÷同一口径；满意率＝评价为“基本满意”及以上÷已评价；按时办结率＝按时办结÷（已办结＋"
            "超期未答复），超期未答复的诉求计入分母。群众留言中的手机号、身份证号等个人信息已脱敏。",
            small=True,
        ),
    ]
    return out


def _theme_row(theme: Theme) -> tuple[str, ...]:
    return (theme.label, str(theme.count), str(theme.previous), "；".join(theme.examples))
