"""Library export and import: a reviewed text file in, drafts under review out — never a publish."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import ReplyTemplate, TemplateStatus, TemplateVersion
from replies import workflow
from replies.exchange import export_library, import_autoreply, import_library
from replies.library import Library, load_seed
from replies.workflow import Actor, LibraryError
from tests.conftest import Backend, shared_path
from tests.test_cli import bot

EVE = Actor("eve", "cli")


def _published_bodies(db: Session) -> dict[str, tuple[int, str]]:
    return {k: (p.version, p.body) for k, p in Library().published(db, None).items()}


def test_export_holds_every_published_template_in_the_seed_format(db: Session) -> None:
    data = tomllib.loads(export_library(db))
    exported = {item["key"]: item for item in data["template"]}
    published = _published_bodies(db)
    assert set(exported) == set(published)
    for key, (_, body) in published.items():
        assert exported[key]["body"] == body
    seed = {item["key"]: item for item in load_seed()}
    assert exported["welcome"]["purpose"] == seed["welcome"]["purpose"]


def test_reimporting_the_export_changes_nothing(db: Session) -> None:
    report = import_library(db, EVE, export_library(db))
    assert report.submitted == [] and report.skipped == []
    assert len(report.unchanged) == len(_published_bodies(db))


def test_an_edited_import_goes_to_review_and_publishes_nothing(db: Session) -> None:
    before = _published_bodies(db)
    data = tomllib.loads(export_library(db))
    for item in data["template"]:
        if item["key"] == "default":
            item["body"] = "您好，留言已收到。请说明事项、地点和时间，我们会登记受理编号并告知答复时限。"
    data["template"].append({"key": "faq_new_parking", "purpose": "faq", "triggers": ["停车场收费标准"],
                             "body": "停车收费标准以价格主管部门公布的为准，可拨打12345咨询。"})
    import tomli_w

    report = import_library(db, EVE, tomli_w.dumps(data))
    assert sorted(report.submitted) == ["default@2", "faq_new_parking@1"]
    assert _published_bodies(db) == before  # nothing published by an import
    new = workflow.version(db, "default", 2)
    assert new.status is TemplateStatus.IN_REVIEW and new.author == "eve"
    with pytest.raises(workflow.NotAllowed):
        workflow.approve(db, EVE, new)  # the importer is the author
    assert workflow.triggers(workflow.version(db, "faq_new_parking", 1)) == ["停车场收费标准"]


def test_a_broken_file_is_refused_with_a_clear_message(db: Session) -> None:
    with pytest.raises(LibraryError, match="TOML"):
        import_library(db, EVE, "[[template]\nkey=")
    report = import_library(db, EVE, '[[template]]\nkey = "x"\n')
    assert report.submitted == [] and report.skipped == ["第1条：缺少 key 或 body"]


def test_the_platforms_auto_replies_become_drafts_under_review(db: Session) -> None:
    path = shared_path("fixtures", "wechat", "wechatpy", "json", "get_current_autoreply_info.json")
    info = json.loads(path.read_text(encoding="utf-8"))
    before = _published_bodies(db)
    report = import_autoreply(db, EVE, info)
    # Follow and default replies become new versions of ours; only the text keyword rule is importable.
    assert [s.split("@")[0] for s in report.submitted[:2]] == ["welcome", "default"]
    keyword_keys = [s.split("@")[0] for s in report.submitted[2:]]
    assert len(keyword_keys) == 1
    kw = db.scalar(select(ReplyTemplate).where(ReplyTemplate.key == keyword_keys[0]))
    assert kw is not None and kw.purpose == "keyword"
    ver = kw.versions[0]
    assert ver.status is TemplateStatus.IN_REVIEW and ver.body == "hello!text!"
    assert workflow.triggers(ver) == ["text测试"] and ver.match_mode == "contain"
    skipped = " ".join(report.skipped)
    assert "news" in skipped and "voice" in skipped and "video" in skipped
    assert _published_bodies(db) == before
    # Importing twice updates the same keyword template rather than creating another.
    again = import_autoreply(db, EVE, info)
    assert [s.split("@")[0] for s in again.submitted[2:]] == keyword_keys
    assert db.scalar(select(TemplateVersion.version).where(TemplateVersion.template_id == kw.id)
                     .order_by(TemplateVersion.version.desc())) == 2


def test_library_commands_in_a_shell(backend: Backend, tmp_path: Path) -> None:
    from tests.test_cli import _postgres_database

    if backend.name == "sqlite":
        env = backend.env(DATABASE_URL=f"sqlite:///{tmp_path / 'lib.db'}",
                          EMBEDDED_REDIS_DB=str(tmp_path / "redis.db"))
        drop = None
    else:
        import uuid

        url, drop = _postgres_database(f"minsheng_lib_{uuid.uuid4().hex[:10]}")
        env = backend.env(DATABASE_URL=url)
    try:
        assert bot("init-db", env=env).returncode == 0
        out = tmp_path / "library.toml"
        exported = bot("library", "export", "-o", str(out), env=env)
        assert exported.returncode == 0, exported.stderr
        assert "safe_fallback" in out.read_text(encoding="utf-8")
        reimport = bot("library", "import", str(out), "--as", "eve", env=env)
        assert reimport.returncode == 0, reimport.stderr
        assert "0 submitted for review" in reimport.stderr and "nothing was published" in reimport.stderr
        missing_who = bot("library", "kill-switch", "off", "--reason", "维护", env=env)
        assert missing_who.returncode == 2 and "--as" in missing_who.stderr
        off = bot("library", "kill-switch", "off", "--reason", "接口维护", "--as", "dan", env=env)
        assert off.returncode == 0, off.stderr
        listing = bot("library", "list", env=env)
        assert "automatic replies: OFF" in listing.stdout
        refused = bot("library", "kill-switch", "off", "--template", "safe_fallback", "--reason", "x", "--as", "dan",
                      env=env)
        assert refused.returncode == 1 and "安全兜底" in refused.stderr
    finally:
        if drop:
            drop()
