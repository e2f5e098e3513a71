"""Checking and preparing a citizen's photo: its real type, its size, a copy for staff without metadata, a thumbnail.

The file's name and declared type prove nothing: Pillow reads the bytes and only JPEG, PNG, GIF, WebP and AVIF
are taken (HEIC too where a Pillow plugin for it is installed; WeChat and iOS Safari convert HEIC photos to JPEG
before they are sent, so none is required). Decompression bombs — a small file that unpacks to billions of
pixels — are refused before any pixel is decoded.

Staff see :attr:`PreparedImage.view`: upright (EXIF orientation applied) and re-encoded with no metadata at all, so
the GPS position a phone writes into a photo never travels with the picture. The position is read from the
original for the record (``Attachment.exif_location``); the original itself is kept unchanged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import struct
import warnings
from collections.abc import Iterator
from typing import Any

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

# Formats taken, by Pillow's name; the MIME type recorded is Pillow's for the format.
ACCEPTED = frozenset({"JPEG", "PNG", "GIF", "WEBP", "AVIF", "HEIF"})
# 64 megapixels: above any phone camera's photo (48 MP modes), far below what would exhaust a worker's memory.
MAX_PIXELS = 64_000_000
# The staff's copy is at most this many pixels on its long side (a phone's 8,000 px photo is 20 MB of pixels
# to draw for nothing); the original keeps every pixel.
VIEW_MAX_SIDE = 2560
THUMB_MAX_SIDE = 320
VIEW_QUALITY = 85
THUMB_QUALITY = 80
DEFAULT_MAX_BYTES = 10 * 1024 * 1024


class MediaRejected(ValueError):
    """An upload or a fetched medium that is not taken; ``str()`` says why in Chinese, for citizens and staff."""


@dataclasses.dataclass(frozen=True)
class PreparedImage:
    """What is kept of a checked photo besides the original bytes."""

    content_type: str  # the original's real type, e.g. image/jpeg
    view: bytes  # upright, re-encoded, no metadata (JPEG, or PNG where the picture has transparency)
    thumb: bytes  # JPEG, at most THUMB_MAX_SIDE pixels on each side
    width: int  # of the upright picture
    height: int
    exif_location: dict[str, float] | None  # {"lat", "lon"[, "alt"]} from the original's EXIF GPS, if any

    @property
    def view_type(self) -> str:
        """The MIME type of :attr:`view`."""
        return encoded_type(self.view)


def encoded_type(data: bytes) -> str:
    """The type of a view or thumbnail made here: PNG or JPEG, told by the first bytes."""
    return "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg"


def size_text(limit: int) -> str:
    """A byte limit as people write it: 10MB, 512KB."""
    if limit >= 1024 * 1024:
        return f"{limit / (1024 * 1024):g}MB"
    return f"{max(limit // 1024, 1)}KB"


@contextlib.contextmanager
def opened(data: bytes) -> Iterator[Image.Image]:
    """``data`` opened by Pillow as a picture in a format we take, within the pixel limit; else MediaRejected.

    Whatever the body of the ``with`` does to the image (load it, decode it smaller) is checked the same way: a
    decompression bomb, a truncated or unreadable file all become MediaRejected with a Chinese reason.
    """
    with warnings.catch_warnings():
        # Pillow warns (rather than fails) between MAX_IMAGE_PIXELS and twice that: a bomb is an error here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                if (image.format or "") not in ACCEPTED:
                    raise MediaRejected("只接受JPG、PNG、GIF或WebP格式的图片")
                if image.width * image.height > MAX_PIXELS:
                    raise MediaRejected("图片像素过多，无法处理，请缩小后重新上传")
                yield image
        except MediaRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise MediaRejected("图片像素过多，无法处理，请缩小后重新上传") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
            raise MediaRejected("文件不是可识别的图片，或图片已损坏") from None


def prepare_image(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> PreparedImage:
    """Check ``data`` is a photo we take and prepare the staff's copy and thumbnail; raises MediaRejected."""
    if not data:
        raise MediaRejected("图片为空，请重新上传")
    if len(data) > max_bytes:
        raise MediaRejected(f"图片超过{size_text(max_bytes)}，请压缩后重新上传")
    with opened(data) as image:
        fmt = image.format or ""
        image.load()
        location = _gps(image)
        upright = ImageOps.exif_transpose(image)
    content_type = Image.MIME.get(fmt, "application/octet-stream")
    view = _encode_view(upright)
    thumb = _encode_thumb(upright)
    return PreparedImage(content_type, view, thumb, upright.width, upright.height, location)


def _plain(image: Image.Image) -> Image.Image:
    """A copy carrying nothing but pixels: no EXIF, XMP, ICC comment, PNG text chunks or GIF comments."""
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    else:
        image = image.copy()
    image.info = {}
    return image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def _encode_view(image: Image.Image) -> bytes:
    alpha = _has_alpha(image)
    plain = _plain(image)
    if max(plain.size) > VIEW_MAX_SIDE:
        plain.thumbnail((VIEW_MAX_SIDE, VIEW_MAX_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if alpha:
        plain.save(out, "PNG", optimize=True)
    else:
        plain.convert("RGB").save(out, "JPEG", quality=VIEW_QUALITY, optimize=True)
    return out.getvalue()


def _encode_thumb(image: Image.Image) -> bytes:
    plain = _plain(image)
    plain.thumbnail((THUMB_MAX_SIDE, THUMB_MAX_SIDE), Image.Resampling.LANCZOS)
    if plain.mode in ("RGBA", "LA"):
        # JPEG has no transparency: lay the picture on white, as a page would show it.
        ground = Image.new("RGB", plain.size, (255, 255, 255))
        ground.paste(plain.convert("RGBA"), mask=plain.convert("RGBA").getchannel("A"))
        plain = ground
    out = io.BytesIO()
    plain.convert("RGB").save(out, "JPEG", quality=THUMB_QUALITY, optimize=True)
    return out.getvalue()


def _gps(image: Image.Image) -> dict[str, float] | None:
    """The position in the original's EXIF GPS block, in decimal degrees (None when absent or malformed)."""
    try:
        gps = image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    except (KeyError, TypeError, ValueError, OSError, SyntaxError, struct.error):
        # A malformed EXIF block must not refuse the photo.
        return None
    if not gps:
        return None
    lat = _degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef), "S")
    lon = _degrees(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef), "W")
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    found: dict[str, float] = {"lat": round(lat, 7), "lon": round(lon, 7)}
    altitude = gps.get(ExifTags.GPS.GPSAltitude)
    try:
        if altitude is not None:
            below = gps.get(ExifTags.GPS.GPSAltitudeRef) in (1, b"\x01")
            found["alt"] = round(-float(altitude) if below else float(altitude), 2)
    except (TypeError, ValueError, ZeroDivisionError):
        pass
    return found


def _degrees(value: Any, ref: Any, negative: str) -> float | None:
    try:
        d, m, s = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    degrees = d + m / 60 + s / 3600
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    return -degrees if str(ref or "").strip().upper() == negative else degrees
