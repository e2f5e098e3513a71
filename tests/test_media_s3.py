"""The S3 backend against a real S3-compatible server (SeaweedFS, tests/s3server.py): objects, errors, outages.

Then the whole path once more with ``MEDIA_STORAGE=s3``: a photo through /wechat, fetched by the job, kept in the
bucket, shown on the case page through a signed link; and a store outage during the fetch, after which the held
files are uploaded to the bucket.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from bot.extensions import services
from bot.media import PENDING_KEY, upload_pending
from bot.media.fetch import fetch_one
from bot.media.storage import EXTENSION_KEY, DirectoryStorage, S3Storage, StorageUnavailable, storage_from_config
from models import Attachment, Case, utcnow
from tests import s3server, test_console
from tests.conftest import APP_SECRET, WeChat
from tests.fakeapi import FakeWeChat
from tests.s3server import BUCKET, S3Server
from tests.test_media_flow import OPENID, media_links, media_xml, photo, register, supervisor

accounts = test_console.accounts  # the console's accounts, one per role (a session fixture)
s3_server = s3server.s3_server  # SeaweedFS for the session


def test_objects_in_a_bucket(s3_server: S3Server) -> None:
    store = storage_from_config({**s3_server.config(), "MEDIA_DIR": ""})
    assert isinstance(store, S3Storage)
    store.put("original/ab/abcdef", b"\xff\xd8first", "image/jpeg")
    store.put("original/ab/abcdef", b"\xff\xd8second", "image/jpeg")  # a put replaces
    assert store.get("original/ab/abcdef") == b"\xff\xd8second"
    stat = store.client.stat_object(store.bucket, "original/ab/abcdef")
    assert stat.content_type == "image/jpeg" and stat.size == len(b"\xff\xd8second")
    # Part of an object, as a player seeking asks for it: the bytes and the whole size.
    assert store.get_range("original/ab/abcdef", 2, 3) == (b"sec", 8)
    assert store.get_range("original/ab/abcdef", 6, 100) == (b"nd", 8)
    assert store.get_range("original/ab/abcdef", 9, 4) == (b"", 8)
    with pytest.raises(KeyError):
        store.get("original/ab/missing")
    with pytest.raises(KeyError):
        store.get_range("original/ab/missing", 0, 10)
    store.delete("original/ab/abcdef")
    store.delete("original/ab/abcdef")  # absent: no error
    with pytest.raises(KeyError):
        store.get("original/ab/abcdef")
    with pytest.raises(ValueError):
        store.put("../escape", b"x", "text/plain")


def test_refusals_and_outages_are_storage_unavailable(s3_server: S3Server) -> None:
    wrong = S3Storage(s3_server.endpoint_url, s3_server.access_key, "not-the-secret", BUCKET)
    with pytest.raises(StorageUnavailable):
        wrong.put("a/b", b"x", "text/plain")
    started = time.monotonic()
    nowhere = S3Storage("http://127.0.0.1:9", "a", "b", BUCKET, connect_timeout=1)
    with pytest.raises(StorageUnavailable):
        nowhere.get("a/b")
    assert time.monotonic() - started < 5  # an outage fails fast: the bytes then wait on the host


@pytest.fixture
def s3_app(clean_app: Flask, fake_api: FakeWeChat, s3_server: S3Server, tmp_path: Path) -> Iterator[Flask]:
    """The app with MEDIA_STORAGE=s3 on SeaweedFS, a fresh bucket, and WeChat's API at the fake."""
    app = clean_app
    saved = {k: app.config.get(k) for k in ("WECHAT_API_BASE", "WECHAT_APP_SECRET")}
    app.config.update(WECHAT_API_BASE=fake_api.url, WECHAT_APP_SECRET=APP_SECRET)
    app.extensions[EXTENSION_KEY] = storage_from_config({**app.config, **s3_server.config()})
    app.extensions[PENDING_KEY] = DirectoryStorage(tmp_path / "pending")
    try:
        yield app
    finally:
        app.config.update(saved)
        app.extensions.pop(EXTENSION_KEY, None)
        app.extensions.pop(PENDING_KEY, None)


def _photo_message(app: Flask, wechat: WeChat, fake: FakeWeChat) -> int:
    wechat.text("我要投诉，幸福小区东门的垃圾堆了一个星期没人清理", openid=OPENID)
    register(fake, "S3_PHOTO", photo(), "image/jpeg")
    sent = wechat.xml(media_xml("image", "S3_PHOTO"), openid=OPENID)
    assert sent.status == 200 and sent.reply
    with services(app).sessions() as db:
        from models import Message

        message_id = db.scalar(select(Message.id).where(Message.msg_type == "image"))
    assert message_id is not None
    return message_id


def test_a_photo_kept_in_the_bucket_and_shown(
    s3_app: Flask, wechat: WeChat, fake_api: FakeWeChat, accounts: dict[str, str]
) -> None:
    app = s3_app
    message_id = _photo_message(app, wechat, fake_api)
    assert fetch_one(app, message_id) == "stored"
    store = app.extensions[EXTENSION_KEY]
    with services(app).sessions() as db:
        row = db.scalar(select(Attachment).where(Attachment.message_id == message_id))
        assert row is not None and row.storage_key
        assert store.get(row.storage_key) == photo()
    # The form is still open: the case comes later, and the sweep links the photo to it then.
    for answer in ("幸福小区东门", "一个星期前", "不需要回访", "不需要"):
        with services(app).sessions() as db:
            case_id = db.scalar(select(Case.id))
        if case_id is not None:
            break
        wechat.text(answer, openid=OPENID)
    from bot.media.fetch import link_orphans

    with services(app).sessions() as db:
        link_orphans(db, utcnow())
        row = db.scalar(select(Attachment).where(Attachment.message_id == message_id))
        assert row is not None and row.case_id is not None
        case_id = row.case_id
    client = supervisor(app, accounts)
    links = media_links(client.get(f"/console/cases/{case_id}").get_data(as_text=True))
    assert links
    bodies = [client.get(link) for link in links]
    assert all(resp.status_code == 200 for resp in bodies)
    assert photo() in [resp.get_data() for resp in bodies]  # the original, from the bucket (supervisor)


def test_an_outage_of_the_bucket_holds_the_file_until_it_returns(
    s3_app: Flask, wechat: WeChat, fake_api: FakeWeChat, s3_server: S3Server
) -> None:
    app = s3_app
    bucket = app.extensions[EXTENSION_KEY]
    # The storage is down (nothing answers where it should be).
    app.extensions[EXTENSION_KEY] = S3Storage("http://127.0.0.1:9", "a", "b", "down", connect_timeout=1)
    message_id = _photo_message(app, wechat, fake_api)  # still answered at once
    assert fetch_one(app, message_id) == "pending"
    app.extensions[EXTENSION_KEY] = bucket  # back
    with services(app).sessions() as db:
        assert upload_pending(app, db, utcnow() + dt.timedelta(minutes=5)) == 1
        row = db.scalar(select(Attachment).where(Attachment.message_id == message_id))
        assert row is not None and row.status == "stored" and row.storage_key
        assert bucket.get(row.storage_key) == photo()
