"""Distant department labels for the raw citizen messages of ``replies/gov_replies.csv`` (sixth round).

The public replies file holds 2,816 raw citizen messages from the same city board with the
government's reply, which often names the bureau that handled it. :data:`BUREAUS` maps official
bureau names (and their usual short forms) to the 7 public departments of the taxonomy's first level;
the mapping was written from ``departments/taxonomy.csv`` and the bureaus' official names before any
model output was looked at. A reply gets a label only when every bureau it names belongs to one public
department: bureaus of two departments, a bureau of a department outside the 7 (公安, 民政, 国土 …) or a
name the taxonomy splits between two departments (文化和旅游, 住房公积金, 安全生产 …) give no label, nor
does a reply that names none (most say only 我局, "our bureau"). Precision over coverage.

Messages that overlap dev_raw.csv or the training file are left out (:func:`overlaps`): the same title,
the same first 40 characters of the message, or a difflib ratio ≥ 0.8 on the first 100 characters —
against dev_raw's title and body (its labels are never read here) and against the training file's
text with its spaces removed (also after segmenting the message the way that file was prepared).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from bot.training.datasets import read_csv

AMBIGUOUS = "ambiguous"  # a name the taxonomy files under two public departments
OUTSIDE = "outside"  # a bureau of a department outside the 7 public ones

_DEPARTMENT_NAMES: dict[str, tuple[str, ...]] = {
    # 城乡建设: housing and urban-rural construction, planning, housing administration, city management
    # (城管执法, 环境卫生, 园林绿化 and 市政 are its second/third levels).
    "urban_construction": (
        "住房和城乡建设局",
        "住房和城乡建设厅",
        "住房和城乡建设委员会",
        "住房和城乡建设部",
        "住房城乡建设",
        "住建局",
        "住建委",
        "住建厅",
        "城乡建设局",
        "城乡建设委员会",
        "建设局",
        "建委",
        "规划建设局",
        "规建局",
        "城乡规划局",
        "城乡规划建设局",
        "规划局",
        "规划分局",
        "住房保障局",
        "住房保障和房产管理局",
        "房产局",
        "房地产管理局",
        "房产管理局",
        "房屋征收",
        "城市管理和行政执法局",
        "城市管理局",
        "城管局",
        "城管执法局",
        "市政局",
        "市政工程管理局",
        "市政设施管理",
        "环卫局",
        "环境卫生管理局",
        "环境卫生管理处",
        "园林局",
        "园林绿化局",
    ),
    # 环境保护
    "environment": (
        "生态环境局",
        "生态环境厅",
        "生态环境分局",
        "生态环境部",
        "环境保护局",
        "环境保护厅",
        "环境保护部",
        "环保局",
        "环保厅",
        "环保分局",
        "环境监察",
        "环境监测站",
    ),
    # 交通运输: transport bureaus, road transport administration, highways, postal administration.
    "transport": (
        "交通运输局",
        "交通运输厅",
        "交通运输委员会",
        "交通运输部",
        "交通局",
        "交通委",
        "运输管理处",
        "运输管理局",
        "运管处",
        "运管局",
        "道路运输管理",
        "公路局",
        "公路管理局",
        "邮政管理局",
    ),
    # 教育文体: education, culture, sports, cultural relics.
    "education": (
        "教育局",
        "教育厅",
        "教育部",
        "教育体育局",
        "教育和体育局",
        "教体局",
        "教育委员会",
        "教委",
        "体育局",
        "文化局",
        "文体局",
        "文化体育局",
        "文物局",
        "文广新局",
        "文化广电新闻出版局",
    ),
    # 劳动和社会保障: human resources and social security, social and medical insurance.
    "labor_social_security": (
        "人力资源和社会保障局",
        "人力资源和社会保障厅",
        "人力资源和社会保障部",
        "人力资源社会保障",
        "人社局",
        "人社厅",
        "社保局",
        "社会保险事业",
        "社会保险管理",
        "社保中心",
        "医疗保障局",
        "医保局",
        "医保中心",
        "医疗保险管理",
        "医疗保险服务中心",
        "劳动保障监察",
        "劳动监察",
        "就业服务局",
        "就业服务中心",
        "劳动人事争议仲裁",
    ),
    # 商贸旅游: commerce, market regulation (商标, 物价, 质监 are its third levels), tourism.
    "commerce_tourism": (
        "商务局",
        "商务厅",
        "商务部",
        "商务和粮食局",
        "市场监督管理局",
        "市场和质量监督管理局",
        "市场监管局",
        "工商行政管理局",
        "工商局",
        "工商分局",
        "质量技术监督局",
        "质监局",
        "物价局",
        "价格监督",
        "旅游局",
        "旅游发展委员会",
        "旅发委",
    ),
    # 卫生计生: health commissions, disease control, family planning, food and drug administration.
    "health": (
        "卫生健康委员会",
        "卫生健康委",
        "卫健委",
        "卫健局",
        "卫生健康局",
        "卫生和计划生育委员会",
        "卫生和计划生育局",
        "卫生计生委",
        "卫生计生局",
        "卫计委",
        "卫计局",
        "卫生局",
        "卫生厅",
        "疾病预防控制中心",
        "疾控中心",
        "人口和计划生育",
        "计生局",
        "计生委",
        "卫生计生综合监督执法局",
        "卫生监督所",
        "食品药品监督管理局",
        "食药监局",
        "食品药品监管局",
    ),
    # Names the taxonomy splits: 文化 is 教育文体 but 旅游 is 商贸旅游; 住房公积金 is under both 城乡建设 and
    # 劳动和社会保障; 安全生产 is 城乡建设 but 劳动安全 is 劳动和社会保障; 公共汽车 and 地铁 are 城乡建设's
    # third levels while the bus companies answer with the 交通运输局. And names that merely contain a
    # bureau's name (环境卫生 is no 卫生局).
    AMBIGUOUS: (
        "文化和旅游",
        "文化旅游",
        "文旅",
        "文化广电和旅游",
        "文化广电旅游",
        "住房公积金",
        "公积金中心",
        "安全生产监督管理局",
        "安监局",
        "应急管理局",
        "交通运输综合行政执法",
        "综合行政执法局",
    ),
    # Departments outside the 7 public ones: police, civil affairs, land, agriculture, forestry, water, justice.
    OUTSIDE: (
        "公安局",
        "公安分局",
        "公安厅",
        "派出所",
        "交警",
        "交通警察",
        "民政局",
        "民政厅",
        "国土资源局",
        "国土局",
        "国土资源厅",
        "自然资源局",
        "自然资源和规划局",
        "不动产登记",
        "农业局",
        "农业农村局",
        "农委",
        "林业局",
        "水利局",
        "水务局",
        "司法局",
        "扶贫办",
        "畜牧水产",
    ),
}

NEUTRAL = ("环境卫生", "卫生服务中心", "卫生院")  # contain a bureau's name but are none: matched and ignored

BUREAUS: dict[str, str] = {name: dept for dept, names in _DEPARTMENT_NAMES.items() for name in names}
BUREAUS.update({name: "" for name in NEUTRAL})
# Longest names first, so that 住房和城乡建设局 wins over 城乡建设局 and 建设局 at the same place.
_PATTERN = re.compile("|".join(re.escape(n) for n in sorted(BUREAUS, key=lambda n: (-len(n), n))))
PUBLIC = tuple(d for d in _DEPARTMENT_NAMES if d not in (AMBIGUOUS, OUTSIDE))


def bureaus_named(reply: str) -> set[str]:
    """The departments (or AMBIGUOUS / OUTSIDE) of the bureaus a reply names."""
    return {BUREAUS[m] for m in _PATTERN.findall(reply) if BUREAUS[m]}


def reply_department(reply: str) -> str | None:
    """The public department of the bureaus named in ``reply``, or None (none named, or more than one)."""
    named = bureaus_named(reply)
    if len(named) == 1:
        (department,) = named
        if department in PUBLIC:
            return department
    return None


# -- overlap with dev_raw and the training file -------------------------------------------------


def _bigram_sets(texts: Sequence[str], index: dict[str, int], grow: bool) -> sp.csr_matrix:
    rows, cols = [], []
    for i, text in enumerate(texts):
        for gram in {text[j : j + 2] for j in range(max(len(text) - 1, 1))}:
            if gram not in index:
                if not grow:
                    continue
                index[gram] = len(index)
            rows.append(i)
            cols.append(index[gram])
    return sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(texts), max(len(index), 1)))


def similar_pairs(left: Sequence[str], right: Sequence[str], ratio: float = 0.8, width: int = 100) -> set[int]:
    """Indices of ``left`` texts whose first ``width`` characters have a difflib ratio ≥ ``ratio`` with
    those of some ``right`` text. Cheap: only pairs sharing at least a third of the shorter text's
    character bigrams are compared (a ratio of 0.8 needs far more than that)."""
    a = [t[:width] for t in left]
    b = [t[:width] for t in right]
    index: dict[str, int] = {}
    mb = _bigram_sets(b, index, grow=True)
    ma = _bigram_sets(a, index, grow=False)
    mb.resize((mb.shape[0], len(index)))
    ma.resize((ma.shape[0], len(index)))
    shared = (ma @ mb.T).tocoo()
    size_a = np.asarray(ma.sum(axis=1)).ravel()
    size_b = np.asarray(mb.sum(axis=1)).ravel()
    found: set[int] = set()
    for i, j, n in zip(shared.row, shared.col, shared.data, strict=True):
        if i in found or n < min(size_a[i], size_b[j]) / 3:
            continue
        if difflib.SequenceMatcher(None, a[i], b[j], autojunk=False).ratio() >= ratio:
            found.add(int(i))
    return found


def overlaps(messages: Sequence[tuple[str, str]], others: Sequence[tuple[str, str]], prefix: int = 40) -> set[int]:
    """Indices of ``messages`` ((title, text) pairs) overlapping ``others`` by the rule above: the same
    title (when both have one), the same first ``prefix`` characters of the text, or a difflib ratio
    ≥ 0.8 on the first 100 characters of the text."""
    titles = {t for t, _ in others if t}
    heads = {x[:prefix] for _, x in others if len(x) >= 10}
    same = {i for i, (t, x) in enumerate(messages) if (t and t in titles) or (len(x) >= 10 and x[:prefix] in heads)}
    return same | similar_pairs([x for _, x in messages], [x for _, x in others])


_SPACE = re.compile(r"\s+")
SHINGLE = 20  # a further overlap check against dev_raw: any shared run of this many characters


def _squeeze(text: str) -> str:
    return _SPACE.sub("", text)


@dataclasses.dataclass
class DistantLabels:
    """The labelled raw messages and how they were obtained."""

    texts: list[str]
    labels: list[str]
    replies: int
    labelled_before_exclusion: Counter[str]
    per_department: Counter[str]
    excluded_dev: int
    excluded_train: int
    outcomes: Counter[str]


@dataclasses.dataclass(frozen=True)
class _Sources:
    """The files the labels and their exclusions are read from, read once."""

    replies: list[dict[str, str]]  # gov_replies.csv
    dev: list[tuple[str, str]]  # dev_raw's (title, body), spaces removed; its labels are not read
    train: list[tuple[str, str]]  # ("", the training file's text with its spaces removed)


def _sources(shared: Path) -> _Sources:
    return _Sources(
        read_csv(shared / "replies" / "gov_replies.csv"),
        [
            (_squeeze(r["title"] or ""), _squeeze(r["body"] or ""))
            for r in read_csv(shared / "departments" / "dev_raw.csv")
        ],
        [("", _squeeze(r["text_segmented"])) for r in read_csv(shared / "departments" / "train_segmented.csv")],
    )


def _train_overlaps(
    messages: Sequence[tuple[str, str]], train: Sequence[tuple[str, str]], segment: Callable[[str], list[str]] | None
) -> set[int]:
    """Indices of ``messages`` ((title, message)) overlapping the training file (title then body, stop words
    removed): the message, the title followed by the message, and (with ``segment``) the latter as that file
    was made."""
    hits = overlaps([("", x) for _, x in messages], train) | overlaps([("", t + x) for t, x in messages], train)
    if segment is not None:
        hits |= overlaps([("", "".join(segment(t + "。" + x))) for t, x in messages], train)
    return hits


def distant_labels(shared: Path, segment: Callable[[str], list[str]] | None = None) -> DistantLabels:
    """The gov_replies messages labelled by their reply's bureau, overlaps with dev_raw and the training
    file left out. Texts are raw, "title。message" as dev_raw's are. ``segment`` (raw text → words, the
    training file's preparation) adds the comparison with the training file in its own form."""
    return _distant_labels(_sources(shared), segment)


def _distant_labels(sources: _Sources, segment: Callable[[str], list[str]] | None) -> DistantLabels:
    rows = sources.replies
    outcomes: Counter[str] = Counter()
    labelled: list[tuple[int, str]] = []
    for i, row in enumerate(rows):
        named = bureaus_named(row["reply"])
        department = reply_department(row["reply"])
        if department:
            labelled.append((i, department))
            outcomes["labelled"] += 1
        elif not named:
            outcomes["no bureau named"] += 1
        elif len(named) > 1:
            outcomes["bureaus of two or more departments"] += 1
        else:
            outcomes[f"only {next(iter(named))}"] += 1
    messages = [(_squeeze(rows[i]["title"]), _squeeze(rows[i]["message"])) for i, _ in labelled]
    dev_hits = overlaps(messages, sources.dev)
    train_hits = _train_overlaps(messages, sources.train, segment)
    keep = [k for k in range(len(labelled)) if k not in dev_hits and k not in train_hits]
    texts = [f"{rows[labelled[k][0]]['title']}。{rows[labelled[k][0]]['message']}" for k in keep]
    labels = [labelled[k][1] for k in keep]
    return DistantLabels(
        texts,
        labels,
        len(rows),
        Counter(d for _, d in labelled),
        Counter(labels),
        len(dev_hits),
        len(train_hits - dev_hits),
        outcomes,
    )


# -- the raw sets of the seventh round: validation and unlabelled messages ----------------------------------------


@dataclasses.dataclass
class RawSets:
    """The raw validation messages (distant labels) and the unlabelled raw messages, as "title。message"."""

    validation: list[str]
    validation_labels: list[str]
    unlabelled: list[str]
    counts: dict[str, int]


def _shingles(text: str, n: int = SHINGLE) -> set[str]:
    return {text[i : i + n] for i in range(max(len(text) - n + 1, 0))}


def raw_sets(shared: Path, segment: Callable[[str], list[str]]) -> RawSets:
    """The validation set (:func:`distant_labels`, with a further check against dev_raw's text: no shared
    run of SHINGLE characters) and the unlabelled messages: every other gov_replies message that does not
    overlap dev_raw, the training file or a validation message (:func:`overlaps`, and the same shingle check
    against dev_raw). dev_raw's labels are never read."""
    sources = _sources(shared)
    distant = _distant_labels(sources, segment)
    dev = sources.dev
    dev_shingles = set().union(*(_shingles(t + x) for t, x in dev))

    def near_dev(text: str) -> bool:
        return not _shingles(_squeeze(text)).isdisjoint(dev_shingles)

    keep = [i for i, t in enumerate(distant.texts) if not near_dev(t)]
    validation = [distant.texts[i] for i in keep]
    validation_labels = [distant.labels[i] for i in keep]

    rows = sources.replies
    messages = [(_squeeze(r["title"]), _squeeze(r["message"])) for r in rows]
    val_pairs = [tuple(_squeeze(p) for p in t.split("。", 1)) for t in validation]
    dev_hits = overlaps(messages, dev)
    # the validation messages themselves, and their near-copies (by title, message, and title + message)
    val_hits = overlaps(messages, val_pairs) | overlaps(
        [("", t + x) for t, x in messages], [("", _squeeze(v).replace("。", "", 1)) for v in validation]
    )
    train_hits = _train_overlaps(messages, sources.train, segment)
    shingle_hits = {i for i, (t, x) in enumerate(messages) if near_dev(t + x)}
    out = dev_hits | val_hits | train_hits | shingle_hits
    unlabelled = [f"{rows[i]['title']}。{rows[i]['message']}" for i in range(len(rows)) if i not in out]
    counts = {
        "validation": len(validation),
        "validation_dropped_by_shingle_check": len(distant.texts) - len(validation),
        "replies": len(rows),
        "unlabelled": len(unlabelled),
        "excluded_dev": len(dev_hits | shingle_hits),
        "excluded_validation": len(val_hits - dev_hits - shingle_hits),
        "excluded_train": len(train_hits - val_hits - dev_hits - shingle_hits),
    }
    return RawSets(validation, validation_labels, unlabelled, counts)


def main() -> None:
    import argparse

    from bot.training.train import department_segmenter
    from text.normalize import normalize

    parser = argparse.ArgumentParser(description="Coverage of the distant labels (no model involved).")
    parser.add_argument("shared", type=Path)
    args = parser.parse_args()
    segmenter = department_segmenter(args.shared)
    result = distant_labels(args.shared, lambda t: segmenter.words(normalize(t).text))
    print(f"replies {result.replies}; outcomes {dict(result.outcomes)}")
    print(f"labelled before exclusion {dict(result.labelled_before_exclusion)}")
    print(f"excluded: overlap with dev_raw {result.excluded_dev}, with the training file {result.excluded_train}")
    print(f"kept {len(result.labels)}: {dict(result.per_department)}")


if __name__ == "__main__":
    main()
