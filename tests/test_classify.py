"""Normalisation and the linear model runtime: what the classifier reads, and that it reads like training did."""

from __future__ import annotations

import numpy as np
import pytest

from handlers.linear import LinearTextModel
from handlers.normalize import normalize


def test_traditional_is_read_as_simplified_and_remembered():
    n = normalize("請問身份證遺失了要去哪裡補辦？？？")
    assert n.text == "请问身份证遗失了要去哪里补办?"
    assert n.traditional


def test_simplified_with_a_variant_character_is_not_taken_for_traditional():
    assert not normalize("我着急，路灯坏了三个月").traditional


def test_full_width_stickers_and_repeated_punctuation_are_folded():
    n = normalize("ＡＢＣ　路灯坏了！！！！[发怒][发怒]")
    assert n.text == "ABC 路灯坏了! 发怒 发怒"
    assert n.stickers == ("发怒", "发怒")


def test_exported_model_predicts_exactly_like_scikit_learn(tmp_path):
    sklearn = pytest.importorskip("sklearn")
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = ["路灯坏了没人修", "怎么补办身份证", "建议增加公交线路", "谢谢你们的帮助", "你好", "噪音太吵了",
             "社保怎么交", "希望多建公园", "表扬社区民警", "在吗"] * 3  # fmt: skip
    labels = ["complaint", "inquiry", "suggestion", "praise", "chitchat"] * 6
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, dtype=np.float32)
    clf = LogisticRegression(C=10, max_iter=2000).fit(vec.fit_transform(texts), labels)
    model = LinearTextModel([str(c) for c in clf.classes_], {str(k): int(v) for k, v in vec.vocabulary_.items()},
                            vec.idf_, clf.coef_, clf.intercept_, (1, 3))  # fmt: skip
    model.save(tmp_path / "m")
    loaded = LinearTextModel.load(tmp_path / "m")
    for text in ["路灯坏了", "怎么办理社保  卡", "完全没见过的字", ""]:
        expected = clf.predict_proba(vec.transform([text]))[0]
        got = loaded.predict(text).probabilities
        assert np.allclose([got[c] for c in clf.classes_], expected, atol=2e-3), text
    assert sklearn is not None
