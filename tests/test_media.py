"""The media building blocks without WeChat: image checks, the directory store, keep(), signed links, recoding.

What a citizen's photo becomes (upright, no metadata, a thumbnail, the GPS position read for the record), what is
refused before anything is written (not an image, too large, a decompression bomb), the directory backend's
atomic writes and key checks, keep() as the web form calls it (and its fallback to the host's disk when the store
is away), and the signed links' refusals.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from flask import Flask
from PIL import ExifTags, Image
from sqlalchemy import func, select

from bot.extensions import services
from bot.media import PENDING_KEY, keep, pending_storage, sniff
from bot.media.images import MAX_PIXELS, MediaRejected, prepare_image
from bot.media.links import LinkRefused, sign, verify
from bot.media.recode import video_poster, voice_copy
from bot.media.storage import EXTENSION_KEY, DirectoryStorage, StorageUnavailable, storage_for, storage_from_config
from models import Attachment, Citizen, Direction, Message, utcnow
from tests.test_media_flow import Switchable, amr, mp4, photo


def _encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


# -- images -------------------------------------------------------------------------------------------


def test_a_phone_photo_is_turned_upright_and_loses_its_metadata() -> None:
    prepared = prepare_image(photo(640, 480))
    assert prepared.content_type == "image/jpeg"
    assert (prepared.width, prepared.height) == (480, 640)  # EXIF orientation 6 applied
    assert prepared.exif_location == pytest.approx({"lat": 39.9075, "lon": 116.397222}, abs=1e-4)
    view = Image.open(io.BytesIO(prepared.view))
    assert view.size == (480, 640) and not view.getexif() and "exif" not in view.info
    thumb = Image.open(io.BytesIO(prepared.thumb))
    assert thumb.format == "JPEG" and max(thumb.size) <= 320 and not thumb.getexif()


def test_formats_taken_and_transparency_kept() -> None:
    rgba = Image.new("RGBA", (50, 40), (255, 0, 0, 128))
    png = prepare_image(_encoded(rgba, "PNG", pnginfo=None))
    assert png.content_type == "image/png" and png.view_type == "image/png"
    gif = prepare_image(_encoded(Image.new("P", (30, 30)), "GIF", comment=b"secret note"))
    assert gif.content_type == "image/gif" and b"secret note" not in gif.view
    webp = prepare_image(_encoded(Image.new("RGB", (30, 30), "green"), "WEBP"))
    assert webp.content_type == "image/webp" and webp.view_type == "image/jpeg"
    assert prepare_image(photo(gps=False)).exif_location is None


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "图片为空"),
        (b"%PDF-1.7 not a picture", "不是可识别的图片"),
        (_encoded(Image.new("RGB", (10, 10)), "BMP"), "只接受"),
        (photo()[:200], "不是可识别的图片"),
    ],
)
def test_what_is_not_a_photo_we_take_is_refused_in_chinese(data: bytes, why: str) -> None:
    with pytest.raises(MediaRejected, match=why):
        prepare_image(data)


def test_too_large_and_bombs_are_refused() -> None:
    with pytest.raises(MediaRejected, match="超过1KB"):
        prepare_image(photo(), max_bytes=1024)  # a limit below the photo's size
    with pytest.raises(MediaRejected, match="超过10MB"):
        prepare_image(b"\xff\xd8" + bytes(10 * 1024 * 1024))
    side = int(MAX_PIXELS**0.5) + 100
    bomb = _encoded(Image.new("1", (side, side)), "PNG")  # a few hundred KB that unpack to 64+ MP
    assert len(bomb) < 2 * 1024 * 1024
    with pytest.raises(MediaRejected, match="像素过多"):
        prepare_image(bomb)


# -- voice and video ------------------------------------------------------------------------------------


def test_voice_gets_a_playable_copy_and_video_a_poster() -> None:
    copy = voice_copy(amr(2))
    assert copy is not None and (copy[:3] == b"ID3" or copy[:2] == b"\xff\xfb")
    assert voice_copy(b"#!AMR\n") is None and voice_copy(b"rubbish") is None
    poster = video_poster(mp4())
    assert poster is not None and Image.open(io.BytesIO(poster)).size == (160, 120)
    assert video_poster(b"rubbish") is None
    assert sniff(amr(), None, "voice") == "audio/amr" and sniff(mp4(), None, "video") == "video/mp4"
    assert sniff(b"????", "audio/speex", "voice") == "audio/speex"


# -- the directory store ----------------------------------------------------------------------------------


def test_directory_store(tmp_path: Path) -> None:
    store = DirectoryStorage(tmp_path / "media")
    store.put("original/ab/abc", b"one", "image/jpeg")
    store.put("original/ab/abc", b"two", "image/jpeg")
    assert store.get("original/ab/abc") == b"two"
    assert not [p for p in (tmp_path / "media" / "original" / "ab").iterdir() if p.name.startswith(".tmp")]
    store.delete("original/ab/abc")
    store.delete("original/ab/abc")
    with pytest.raises(KeyError):
        store.get("original/ab/abc")
    for bad in ("../etc/passwd", "/abs", "a//b", "a/./b", ""):
        with pytest.raises(ValueError):
            store.put(bad, b"x", "text/plain")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_directory_store_unwritable_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "ro").mkdir(mode=0o500)
    with pytest.raises(StorageUnavailable):
        DirectoryStorage(tmp_path / "ro").put("a/b", b"x", "text/plain")


def test_storage_is_chosen_by_configuration(tmp_path: Path) -> None:
    assert isinstance(storage_from_config({"MEDIA_STORAGE": "", "MEDIA_DIR": str(tmp_path)}), DirectoryStorage)
    with pytest.raises(ValueError, match="S3_ENDPOINT_URL"):
        storage_from_config({"MEDIA_STORAGE": "s3", "MEDIA_DIR": ""})
    with pytest.raises(ValueError, match="MEDIA_STORAGE"):
        storage_from_config({"MEDIA_STORAGE": "ftp", "MEDIA_DIR": ""})


# -- keep(), as the web form calls it ------------------------------------------------------------------------


def _message(app: Flask) -> int:
    with services(app).sessions() as db:
        citizen = Citizen(openid="web:test-upload", first_seen_at=utcnow(), last_seen_at=utcnow())
        db.add(citizen)
        db.flush()
        message = Message(direction=Direction.IN, citizen_id=citizen.id, msg_type="form", channel="web",
                          content="信件")  # fmt: skip
        db.add(message)
        db.commit()
        return message.id


def test_keep_stores_an_upload_and_refuses_a_bad_one(clean_app: Flask, tmp_path: Path) -> None:
    app = clean_app
    app.extensions[EXTENSION_KEY] = Switchable(DirectoryStorage(tmp_path / "media"))
    app.extensions[PENDING_KEY] = DirectoryStorage(tmp_path / "pending")
    try:
        message_id = _message(app)
        with services(app).sessions() as db:
            row = keep(app, db, message_id=message_id, case_id=None, channel="web", kind="image", data=photo())
            assert row.id and row.status == "stored" and row.content_type == "image/jpeg"
            assert storage_for(app).get(row.storage_key or "") == photo()
            with pytest.raises(MediaRejected):
                keep(app, db, message_id=message_id, case_id=None, channel="web", kind="image", data=b"<svg/>")
            db.rollback()  # the caller did not commit: nothing was kept
            assert db.scalar(select(func.count()).select_from(Attachment)) == 0
            # The store is away: the upload is accepted all the same, held on this host for later.
            storage = app.extensions[EXTENSION_KEY]
            storage.down = True
            held = keep(app, db, message_id=message_id, case_id=None, channel="web", kind="image", data=photo())
            db.commit()
            assert held.status == "pending" and held.content_hash and held.next_attempt_at
            assert pending_storage(app).get(held.storage_key or "") == photo()
    finally:
        app.extensions.pop(EXTENSION_KEY, None)
        app.extensions.pop(PENDING_KEY, None)


# -- signed links --------------------------------------------------------------------------------------------


def test_links_name_one_part_for_one_user() -> None:
    token = sign("k" * 32, 7, "view", "wang")
    assert verify("k" * 32, token, 60) == verify("k" * 32, token, 60)
    target = verify("k" * 32, token, 60)
    assert (target.attachment_id, target.part, target.user) == (7, "view", "wang")
    for bad in (token + "x", sign("x" * 32, 7, "view", "wang"), "garbage"):
        with pytest.raises(LinkRefused):
            verify("k" * 32, bad, 60)
    with pytest.raises(LinkRefused):
        verify("k" * 32, token, -1)
    with pytest.raises(ValueError):
        sign("k" * 32, 7, "everything", "wang")


def test_a_gps_block_that_is_malformed_does_not_refuse_the_photo() -> None:
    image = Image.new("RGB", (20, 20))
    exif = Image.Exif()
    exif[ExifTags.IFD.GPSInfo] = {ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (1.0,)}
    assert prepare_image(_encoded(image, "JPEG", exif=exif)).exif_location is None
