"""Citizens' photos, voice and video end to end, on both backends: /wechat → the fetch job → storage → the console.

The job (``bot.media.fetch.fetch_one``) runs synchronously here, as tests/test_delivery.py runs ``deliver``;
the fake WeChat API (tests/fakeapi.py) serves the media, then forgets them as WeChat does after three days, and
the case page still shows them. Also: retries with backoff and the final failure shown on the case, 40007 at
once, the sweep that finds a lost enqueue, a storage outage (the message is answered, the fetch waits, the
file is uploaded when the store returns), signed links refused to other users and after expiry, the audit of
originals, exports by hash, and retention deleting the files but keeping the hash.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from PIL import ExifTags, Image
from sqlalchemy import select

from bot.extensions import services
from bot.media import PENDING_KEY, delete_purged, pending_storage, upload_pending
from bot.media.fetch import RETRY_DELAYS, due_messages, fetch_one, media_queue, sweep
from bot.media.storage import EXTENSION_KEY, DirectoryStorage, Storage, StorageUnavailable
from bot.simulator import ACCOUNT
from models import Attachment, AuditEntry, Case, Direction, Message, utcnow
from tests import test_console
from tests.conftest import APP_SECRET, WeChat
from tests.fakeapi import FakeWeChat
from tests.test_console import PASSWORD, ROLE_USERS, login

accounts = test_console.accounts  # the console's accounts, one per role (a session fixture)
OPENID = "oMediaCitizen000000000000001"


# -- what a citizen sends -------------------------------------------------------------------------------


def photo(width: int = 640, height: int = 480, *, gps: bool = True) -> bytes:
    """A JPEG as a phone writes it: EXIF orientation and a GPS position."""
    image = Image.new("RGB", (width, height), (30, 120, 200))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # taken with the phone turned: shown rotated
    if gps:
        exif[ExifTags.IFD.GPSInfo] = {
            ExifTags.GPS.GPSLatitudeRef: "N",
            ExifTags.GPS.GPSLatitude: (39.0, 54.0, 27.0),
            ExifTags.GPS.GPSLongitudeRef: "E",
            ExifTags.GPS.GPSLongitude: (116.0, 23.0, 50.0),
        }
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def amr(seconds: float = 1.0) -> bytes:
    """An AMR-NB voice message (12.2 kbit/s frames of 20 ms), as WeChat stores voice."""
    return b"#!AMR\n" + (b"\x3c" + bytes(range(31))) * int(seconds * 50)


def mp4(frames: int = 5) -> bytes:
    """A short H.264 video, as a phone records one."""
    import av
    import numpy as np

    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("h264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((120, 160, 3), i * 40, dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def media_xml(kind: str, media_id: str, openid: str = OPENID, *, recognition: str = "", pictures: str = "") -> str:
    """The XML WeChat pushes for an image or voice message (a photo's PicUrl on ``pictures``, the fake's address)."""
    extra = {
        "image": f"<PicUrl><![CDATA[{pictures or 'http://mmbiz.qpic.cn'}/mmbiz/{media_id}/0]]></PicUrl>",
        "voice": f"<Format><![CDATA[amr]]></Format><Recognition><![CDATA[{recognition}]]></Recognition>",
        "video": "<ThumbMediaId><![CDATA[thumb]]></ThumbMediaId>",
        "shortvideo": "<ThumbMediaId><![CDATA[thumb]]></ThumbMediaId>",
    }[kind]
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{kind}]]></MsgType>"
        f"<MediaId><![CDATA[{media_id}]]></MediaId>{extra}<MsgId>{secrets.randbelow(2**62) + 1}</MsgId></xml>"
    )


def register(fake: FakeWeChat, media_id: str, data: bytes, content_type: str, *, picture: bool = False) -> None:
    """Give the fake a temporary medium (as WeChat holds what a citizen sent); ``picture``: also at its PicUrl."""
    body = {"media_id": media_id, "content_b64": base64.b64encode(data).decode(), "content_type": content_type,
            "picture": picture}  # fmt: skip
    requests.post(f"{fake.url}/_fake/media", json=body, timeout=5).raise_for_status()


def forget(fake: FakeWeChat, media_id: str) -> None:
    """WeChat deletes temporary media after three days."""
    requests.post(f"{fake.url}/_fake/media/forget", json={"media_id": media_id}, timeout=5).raise_for_status()


# -- the app wired to the fake and to a storage of the test's own -------------------------------------


class Switchable:
    """A store that can be taken away (an outage) and given back."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise StorageUnavailable("test outage")

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._check()
        self.inner.put(key, data, content_type)

    def get(self, key: str) -> bytes:
        self._check()
        return self.inner.get(key)

    def get_range(self, key: str, start: int, length: int) -> tuple[bytes, int]:
        self._check()
        return self.inner.get_range(key, start, length)

    def delete(self, key: str) -> None:
        self._check()
        self.inner.delete(key)


@pytest.fixture
def media_app(clean_app: Flask, fake_api: FakeWeChat, tmp_path: Path) -> Iterator[Flask]:
    """The app with WeChat's API at the fake and its media in a directory of this test (restored after)."""
    app = clean_app
    saved = {k: app.config[k] for k in ("WECHAT_API_BASE", "WECHAT_APP_SECRET", "MEDIA_DIR", "MEDIA_PICTURE_HOSTS")}
    # Image links are followed on the fake's host only: a test never reaches WeChat's real image servers.
    app.config.update(WECHAT_API_BASE=fake_api.url, WECHAT_APP_SECRET=APP_SECRET, MEDIA_DIR=str(tmp_path / "media"),
                      MEDIA_PICTURE_HOSTS="127.0.0.1")  # fmt: skip
    app.extensions[EXTENSION_KEY] = Switchable(DirectoryStorage(tmp_path / "media"))
    app.extensions[PENDING_KEY] = DirectoryStorage(tmp_path / "pending")
    try:
        yield app
    finally:
        app.config.update(saved)
        app.extensions.pop(EXTENSION_KEY, None)
        app.extensions.pop(PENDING_KEY, None)


def store_of(app: Flask) -> Switchable:
    store = app.extensions[EXTENSION_KEY]
    assert isinstance(store, Switchable)
    return store


def inbound(app: Flask, kind: str) -> list[Message]:
    with services(app).sessions() as db:
        rows = db.scalars(
            select(Message).where(Message.direction == Direction.IN, Message.msg_type == kind).order_by(Message.id)
        ).all()
        db.expunge_all()
        return list(rows)


def attachment_of(app: Flask, message_id: int) -> Attachment:
    with services(app).sessions() as db:
        row = db.scalar(select(Attachment).where(Attachment.message_id == message_id))
        assert row is not None
        db.expunge(row)
        return row


def file_complaint(app: Flask, wechat: WeChat, fake: FakeWeChat) -> tuple[int, list[int]]:
    """A complaint whose intake form receives a photo and a voice message; (case id, media message ids)."""
    first = wechat.text("我要投诉，幸福小区东门的垃圾堆了一个星期没人清理，臭气熏天", openid=OPENID)
    assert first.status == 200 and first.reply
    register(fake, "PHOTO_1", photo(), "image/jpeg")
    register(fake, "VOICE_1", amr(), "audio/amr")
    sent_photo = wechat.xml(media_xml("image", "PHOTO_1"), openid=OPENID)
    sent_voice = wechat.xml(media_xml("voice", "VOICE_1", recognition="垃圾就堆在东门口"), openid=OPENID)
    assert sent_photo.reply and sent_voice.reply  # answered at once: nothing was fetched on the way
    for answer in ("幸福小区东门", "一个星期前", "不需要回访", "不需要"):
        with services(app).sessions() as db:
            case_id = db.scalar(select(Case.id).order_by(Case.id.desc()))
        if case_id is not None:
            break
        wechat.text(answer, openid=OPENID)
    with services(app).sessions() as db:
        case_id = db.scalar(select(Case.id).order_by(Case.id.desc()))
    assert case_id is not None, "the intake form never opened a case"
    ids = [m.id for m in inbound(app, "image") + inbound(app, "voice")]
    assert len(ids) == 2
    return case_id, ids


def supervisor(app: Flask, accounts: dict[str, str]) -> FlaskClient:
    return login(app, accounts["supervisor"], PASSWORD)


_SRC = re.compile(r'(?:src|href)="(/console/media\?t=[^"]+)"')


def media_links(html: str) -> list[str]:
    return [link.replace("&amp;", "&") for link in _SRC.findall(html)]


# -- the whole path -----------------------------------------------------------------------------------


def test_photo_and_voice_reach_the_case_after_wechat_forgot_them(
    media_app: Flask, wechat: WeChat, fake_api: FakeWeChat, accounts: dict[str, str]
) -> None:
    app = media_app
    case_id, (photo_id, voice_id) = file_complaint(app, wechat, fake_api)
    # The reply path queued one fetch per media message on the media queue.
    assert media_queue(app).count >= 2
    assert fetch_one(app, photo_id) == "stored"
    assert fetch_one(app, voice_id) == "stored"
    assert fetch_one(app, photo_id) == "skipped"  # a second run of the job fetches nothing
    forget(fake_api, "PHOTO_1")
    forget(fake_api, "VOICE_1")

    picture, voice = attachment_of(app, photo_id), attachment_of(app, voice_id)
    assert picture.case_id == case_id and voice.case_id == case_id  # sent during the form: the form's case
    assert picture.content_type == "image/jpeg" and picture.size_bytes == len(photo())
    assert picture.content_hash and len(picture.content_hash) == 64
    assert (picture.width, picture.height) == (480, 640)  # upright
    location = json.loads(picture.exif_location or "{}")
    assert location["lat"] == pytest.approx(39.9075, abs=1e-4) and location["lon"] == pytest.approx(116.3972, abs=1e-4)
    assert voice.content_type == "audio/amr" and voice.view_key  # and a playable copy

    client = supervisor(app, accounts)
    page = client.get(f"/console/cases/{case_id}").get_data(as_text=True)
    assert "群众发来的图片、语音和视频" in page
    assert "<img" in page and "<audio controls" in page
    assert "垃圾就堆在东门口" in page  # the transcription beside the player
    assert "原图带有拍摄位置" in page
    links = media_links(page)
    assert len(links) >= 4  # thumbnail, view, original photo; voice copy, original voice
    served = {link: client.get(link) for link in links}
    assert all(resp.status_code == 200 for resp in served.values()), {k: v.status_code for k, v in served.items()}
    types = {resp.mimetype for resp in served.values()}
    assert {"image/jpeg", "audio/mpeg", "audio/amr"} <= types
    # What staff see carries no location: the view and thumbnail have no EXIF at all.
    for resp in served.values():
        if resp.mimetype == "image/jpeg" and resp.get_data() != photo():
            assert not Image.open(io.BytesIO(resp.get_data())).getexif()
    originals = [resp for resp in served.values() if resp.get_data() in (photo(), amr())]
    assert len(originals) == 2
    with services(app).sessions() as db:
        audited = db.scalars(select(AuditEntry).where(AuditEntry.action == "media.original")).all()
        assert len(audited) == 2 and all(e.actor == accounts["supervisor"] for e in audited)
    # A request for all but the first byte is still a viewing; within the same viewing it adds no entry.
    original = next(link for link, resp in served.items() if resp.get_data() == photo())
    assert client.get(original, headers={"Range": "bytes=1-"}).status_code == 206
    with services(app).sessions() as db:
        assert len(db.scalars(select(AuditEntry).where(AuditEntry.action == "media.original")).all()) == 2
        app_redis = services(app).redis
        for key in app_redis.scan_iter(f"{app.config['REDIS_NAMESPACE']}:media-viewed:*"):
            app_redis.delete(key)
    assert client.get(original, headers={"Range": "bytes=1-"}).status_code == 206
    with services(app).sessions() as db:
        assert len(db.scalars(select(AuditEntry).where(AuditEntry.action == "media.original")).all()) == 3
    # A player seeking gets exactly the bytes it asked for, and past the end a 416 that says the size.
    part = client.get(original, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.get_data() == photo()[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(photo())}"
    beyond = client.get(original, headers={"Range": f"bytes={len(photo()) + 10}-"})
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{len(photo())}"

    # The thread shows them too, under their messages.
    with services(app).sessions() as db:
        citizen_id = db.scalar(select(Message.citizen_id).where(Message.id == photo_id))
    thread = client.get(f"/console/conversations/{citizen_id}").get_data(as_text=True)
    assert f'id="attachment-{picture.id}"' in thread and "<audio controls" in thread

    # A short video sent right after the case number arrived belongs to that case too: kept with a poster.
    register(fake_api, "VIDEO_1", mp4(), "video/mp4")
    wechat.xml(media_xml("shortvideo", "VIDEO_1"), openid=OPENID)
    (video_message,) = inbound(app, "shortvideo")
    assert fetch_one(app, video_message.id) == "stored"
    video = attachment_of(app, video_message.id)
    assert video.case_id == case_id and video.content_type == "video/mp4" and video.poster_key
    page = client.get(f"/console/cases/{case_id}").get_data(as_text=True)
    assert 'alt="视频首帧"' in page and "播放视频" in page
    played = [client.get(link) for link in media_links(page)]
    assert mp4() in [resp.get_data() for resp in played]

    # The links are for this user: another (even one who may see the case) gets nothing from them.
    operator = login(app, ROLE_USERS["operator"], PASSWORD)
    assert operator.get(links[0]).status_code == 404
    # An operator's own page has no link to the photo's original (it carries the location) and may not get it.
    own = operator.get(f"/console/cases/{case_id}").get_data(as_text=True)
    assert "查看原图" not in own and "<img" in own


def test_links_expire_and_are_not_forgeable(
    media_app: Flask, wechat: WeChat, fake_api: FakeWeChat, accounts: dict[str, str]
) -> None:
    app = media_app
    case_id, (photo_id, _) = file_complaint(app, wechat, fake_api)
    fetch_one(app, photo_id)
    client = supervisor(app, accounts)
    link = media_links(client.get(f"/console/cases/{case_id}").get_data(as_text=True))[0]
    assert client.get(link).status_code == 200
    assert client.get(link[:-3] + "abc").status_code == 404
    app.config["MEDIA_URL_SECONDS"], saved = -1, app.config["MEDIA_URL_SECONDS"]
    try:
        assert client.get(link).status_code == 404
    finally:
        app.config["MEDIA_URL_SECONDS"] = saved
    signed_out = app.test_client()
    assert signed_out.get(link).status_code in (302, 401)


def test_a_failed_fetch_is_retried_then_the_case_says_so(
    media_app: Flask, wechat: WeChat, fake_api: FakeWeChat, accounts: dict[str, str]
) -> None:
    app = media_app
    case_id, (photo_id, voice_id) = file_complaint(app, wechat, fake_api)
    # WeChat is unavailable twice, then answers: the third try stores the photo.
    fake_api.fail(endpoint="media", http_status=503, times=2, openid="PHOTO_1")
    now = utcnow()
    assert fetch_one(app, photo_id, now) == "waiting"
    row = attachment_of(app, photo_id)
    assert row.status == "pending" and row.attempts == 1 and "HTTP 503" in (row.last_error or "")
    assert fetch_one(app, photo_id, now + dt.timedelta(seconds=30)) == "skipped"  # not due yet
    now += dt.timedelta(seconds=RETRY_DELAYS[0] + 1)
    assert fetch_one(app, photo_id, now) == "waiting"
    now += dt.timedelta(seconds=RETRY_DELAYS[1] + 1)
    assert fetch_one(app, photo_id, now) == "stored"

    # The voice never comes: every try fails, the last one records why, and the case page says so.
    fake_api.fail(endpoint="media", http_status=503, times=100, openid="VOICE_1")
    now = utcnow()
    outcomes = []
    for delay in (0, *RETRY_DELAYS):
        now += dt.timedelta(seconds=delay + 1)
        outcomes.append(fetch_one(app, voice_id, now))
    assert outcomes == ["waiting"] * len(RETRY_DELAYS) + ["failed"]
    failed = attachment_of(app, voice_id)
    assert failed.status == "failed" and failed.attempts == len(RETRY_DELAYS) + 1
    page = supervisor(app, accounts).get(f"/console/cases/{case_id}").get_data(as_text=True)
    assert "附件未能取回：微信接口暂时不可用（HTTP 503）；已尝试8次仍未取回" in page


def test_an_expired_medium_fails_at_once(
    media_app: Flask, wechat: WeChat, fake_api: FakeWeChat, accounts: dict[str, str]
) -> None:
    app = media_app
    case_id, (photo_id, _) = file_complaint(app, wechat, fake_api)
    forget(fake_api, "PHOTO_1")  # the job came too late (or the id was invalid)
    assert fetch_one(app, photo_id) == "failed"
    row = attachment_of(app, photo_id)
    assert row.attempts == 1 and "40007" in (row.last_error or "")
    page = supervisor(app, accounts).get(f"/console/cases/{case_id}").get_data(as_text=True)
    assert "附件未能取回：微信临时素材已失效" in page


def test_an_expired_photo_is_kept_from_its_picture_link(
    media_app: Flask, wechat: WeChat, fake_api: FakeWeChat, accounts: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The media id is gone after three days; the photo's PicUrl on WeChat's image host still serves it."""
    app = media_app
    register(fake_api, "PHOTO_7", photo(gps=False), "image/jpeg", picture=True)
    wechat.xml(media_xml("image", "PHOTO_7", pictures=fake_api.url), openid=OPENID)
    (message,) = inbound(app, "image")
    forget(fake_api, "PHOTO_7")
    assert fetch_one(app, message.id) == "stored"
    kept = attachment_of(app, message.id)
    assert kept.content_hash is not None and kept.content_type == "image/jpeg"
    # Not on WeChat's image hosts: the link is not followed, and the case says why.
    monkeypatch.setitem(app.config, "MEDIA_PICTURE_HOSTS", "mmbiz.qpic.cn")
    register(fake_api, "PHOTO_8", photo(gps=False), "image/jpeg", picture=True)
    wechat.xml(media_xml("image", "PHOTO_8", pictures=fake_api.url), openid=OPENID)
    second = next(m for m in inbound(app, "image") if m.id != message.id)
    forget(fake_api, "PHOTO_8")
    assert fetch_one(app, second.id) == "failed"
    assert "40007" in (attachment_of(app, second.id).last_error or "")
    assert "图片链接不在微信图片域名内" in (attachment_of(app, second.id).last_error or "")


def test_the_sweep_finds_a_lost_enqueue(media_app: Flask, wechat: WeChat, fake_api: FakeWeChat) -> None:
    app = media_app
    register(fake_api, "PHOTO_9", photo(gps=False), "image/jpeg")
    wechat.xml(media_xml("image", "PHOTO_9"), openid=OPENID)
    (message,) = inbound(app, "image")
    # The job was lost (Redis emptied): nothing names the message but the database.
    media_queue(app).empty()
    with services(app).sessions() as db:
        assert due_messages(db, utcnow()) == []  # its own job has a minute first
        later = utcnow() + dt.timedelta(minutes=2)
        assert due_messages(db, later) == [message.id]
    done = sweep(app, later)
    assert done["queued"] == 1 and media_queue(app).count == 1
    assert fetch_one(app, message.id, later) == "stored"
    with services(app).sessions() as db:
        assert due_messages(db, later + dt.timedelta(minutes=5)) == []


def test_storage_outage_the_message_is_answered_and_the_file_waits(
    media_app: Flask, wechat: WeChat, fake_api: FakeWeChat, accounts: dict[str, str]
) -> None:
    app = media_app
    store_of(app).down = True
    case_id, (photo_id, voice_id) = file_complaint(app, wechat, fake_api)  # answered, stored, case opened
    assert fetch_one(app, photo_id) == "pending" and fetch_one(app, voice_id) == "pending"
    forget(fake_api, "PHOTO_1")  # WeChat forgets: the bytes are on this host's disk by now
    row = attachment_of(app, photo_id)
    assert row.status == "pending" and row.content_hash and row.storage_key
    assert pending_storage(app).get(row.storage_key) == photo()
    page = supervisor(app, accounts).get(f"/console/cases/{case_id}").get_data(as_text=True)
    assert "对象存储暂时不可用" in page
    with services(app).sessions() as db:
        assert upload_pending(app, db, utcnow() + dt.timedelta(minutes=5)) == 0  # still away
    store_of(app).down = False
    with services(app).sessions() as db:
        assert upload_pending(app, db, utcnow() + dt.timedelta(minutes=10)) == 2
    row = attachment_of(app, photo_id)
    assert row.status == "stored" and store_of(app).get(row.storage_key or "") == photo()
    with pytest.raises(KeyError):
        pending_storage(app).get(row.storage_key or "")
    client = supervisor(app, accounts)
    links = media_links(client.get(f"/console/cases/{case_id}").get_data(as_text=True))
    assert links and all(client.get(link).status_code == 200 for link in links)


def test_exports_list_attachments_by_hash_and_retention_deletes_the_files(
    media_app: Flask, wechat: WeChat, fake_api: FakeWeChat, accounts: dict[str, str]
) -> None:
    from bot.exporting import export_rows
    from cases.retention import anonymise

    app = media_app
    case_id, (photo_id, voice_id) = file_complaint(app, wechat, fake_api)
    fetch_one(app, photo_id)
    fake_api.fail(endpoint="media", errcode=40007, times=1, openid="VOICE_1")
    fetch_one(app, voice_id)
    picture = attachment_of(app, photo_id)
    rows, fields = export_rows(app, "messages")
    assert "attachments" in fields
    by_id = {row["id"]: row for row in rows}
    assert by_id[photo_id]["attachments"] == f"image:{picture.content_hash}"
    assert by_id[voice_id]["attachments"] == "voice:failed"
    cases, _ = export_rows(app, "cases")
    assert f"image:{picture.content_hash}" in next(c for c in cases if c["attachments"])["attachments"]
    sheet = supervisor(app, accounts).get("/console/cases/export?format=csv&view=all").get_data(as_text=True)
    assert picture.content_hash in sheet

    # Retention: the message goes (its case closed long ago), and with it the files; the hash stays.
    with services(app).sessions() as db:
        case = db.get(Case, case_id)
        assert case is not None
        long_ago = utcnow() - dt.timedelta(days=2000)
        case.closed_at = long_ago
        for message in db.scalars(select(Message)):
            message.received_at = long_ago
        db.commit()
        report = anonymise(db, utcnow(), 1095)
        db.commit()
        assert report.attachments == 2
        assert delete_purged(app, db) == 1  # the photo had files; the failed voice had none
    gone = attachment_of(app, photo_id)
    assert gone.purged_at is not None and gone.content_hash == picture.content_hash
    assert gone.storage_key is None and gone.exif_location is None
    for key in (picture.storage_key, picture.view_key, picture.thumb_key):
        with pytest.raises(KeyError):
            store_of(app).get(key or "")
    page = supervisor(app, accounts).get(f"/console/cases/{case_id}").get_data(as_text=True)
    assert "已按保存期限删除文件" in page and not media_links(page)


def test_the_hourly_sweep_looks_back_three_days(media_app: Flask, wechat: WeChat, fake_api: FakeWeChat) -> None:
    from bot.cli.jobs import fetch_media_cmd
    from bot.maintenance import sweep_media

    app = media_app
    register(fake_api, "PHOTO_OLD", photo(gps=False), "image/jpeg")
    wechat.xml(media_xml("image", "PHOTO_OLD"), openid=OPENID)
    (message,) = inbound(app, "image")
    media_queue(app).empty()
    with services(app).sessions() as db:  # received ten hours ago, its job lost
        row = db.get(Message, message.id)
        assert row is not None
        row.received_at = utcnow() - dt.timedelta(hours=10)
        db.commit()
    assert (sweep_media(app, thorough=False) or {}).get("queued") == 0  # the minute's sweep looks at 6 hours
    result = app.test_cli_runner().invoke(fetch_media_cmd)  # the hourly one (and the command) at 3 days
    assert result.exit_code == 0 and "1 fetch(es) queued" in result.output
    assert fetch_one(app, message.id) == "stored"
