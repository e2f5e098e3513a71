"""Voice and video made viewable in a browser: an MP3 copy of a voice message, a poster frame of a video.

WeChat sends voice as AMR (or Speex), which no browser plays; staff would otherwise have to download a file and
find a player. PyAV (FFmpeg's libraries, bundled in its wheel) decodes AMR-NB, AMR-WB, Speex and the H.264 of
WeChat's videos natively, so both copies cost a few lines and a few milliseconds. The original is always kept as
sent: these are conveniences, and a file FFmpeg cannot read is kept all the same (the console then offers the
download only).

Decoding untrusted media is where media libraries have their bugs: input is capped (WeChat's own limits, a few
minutes of audio), and any error here means "no copy", never a refused or lost message.
"""

from __future__ import annotations

import io
import logging

from PIL import Image

log = logging.getLogger(__name__)

# WeChat voice messages are at most 60 s; anything far longer is not a voice message.
MAX_AUDIO_SECONDS = 300
MP3_RATE = 16000
POSTER_MAX_SIDE = 640


def voice_copy(data: bytes) -> bytes | None:
    """An MP3 (mono, 16 kHz) of a voice message, or None when it cannot be decoded."""
    try:
        import av

        with av.open(io.BytesIO(data), "r") as source:
            if not source.streams.audio:
                return None
            stream = source.streams.audio[0]
            out = io.BytesIO()
            resampler = av.AudioResampler(format="s16p", layout="mono", rate=MP3_RATE)
            with av.open(out, "w", format="mp3") as target:
                encoder = target.add_stream("libmp3lame", rate=MP3_RATE)
                encoder.layout = "mono"
                samples = 0
                for frame in source.decode(stream):
                    for piece in resampler.resample(frame):
                        piece.pts = None
                        samples += piece.samples
                        for packet in encoder.encode(piece):
                            target.mux(packet)
                    if samples > MAX_AUDIO_SECONDS * MP3_RATE:
                        break
                for piece in resampler.resample(None):
                    piece.pts = None
                    for packet in encoder.encode(piece):
                        target.mux(packet)
                for packet in encoder.encode(None):
                    target.mux(packet)
            if samples == 0:
                return None
            return out.getvalue()
    except Exception as exc:  # noqa: BLE001 — FFmpeg raises many kinds; no copy is the only consequence
        log.info("voice not decodable (%s): kept without a playable copy", type(exc).__name__)
        return None


def video_poster(data: bytes) -> bytes | None:
    """A JPEG of a video's first picture (at most POSTER_MAX_SIDE px), or None when none can be decoded."""
    try:
        import av

        with av.open(io.BytesIO(data), "r") as source:
            if not source.streams.video:
                return None
            # The first frame the decoder gives (it skips what it cannot decode).
            for frame in source.decode(video=0):
                image: Image.Image = frame.to_image()  # type: ignore[no-untyped-call]
                image.thumbnail((POSTER_MAX_SIDE, POSTER_MAX_SIDE))
                out = io.BytesIO()
                image.convert("RGB").save(out, "JPEG", quality=80)
                return out.getvalue()
            return None
    except Exception as exc:  # noqa: BLE001 — as above
        log.info("video not decodable (%s): kept without a poster", type(exc).__name__)
        return None
