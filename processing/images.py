"""Photos: sniff the real type, decode safely, read EXIF, make renditions, face crops and annotated previews.

Everything here is blocking CPU work on Pillow images; callers run it in a worker thread or process.
Pillow releases the GIL while decoding, resizing and encoding, so threads do overlap here.

Typical ingest of one photo::

    photo = decode(path, min_long_edge=DESKTOP_LONG_EDGE)  # RGB, EXIF-rotated, size-checked
    work = fit_within(photo.image, long_edge=DESKTOP_LONG_EDGE)
    faces = engine.analyze(work)                          # boxes in `work` pixels
    full = (photo.info.width, photo.info.height)
    files = {THUMB_NAME: thumbnail_jpeg(image=work), DESKTOP_NAME: desktop_jpeg(image=work, full_size=full)}
    crops = [face_crop_jpeg(image=work, box=f.box) for f in faces]
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from processing.errors import CorruptMedia, MediaError, TooLarge, UnsupportedMedia
from processing.media_types import SNIFF_BYTES, MediaType, looks_like_html, sniff
from processing.results import DESKTOP_NAME, THUMB_NAME

DEFAULT_MAX_PIXELS = 100_000_000
"""Largest photo accepted (width x height, 100 megapixels); more is refused as a decompression bomb."""

# Pillow's own bomb guard (a warning from 89 MP, an error from twice its limit) set to the same limit:
# `decode` refuses anything larger by the header before decoding, so a photo it accepts raises no
# warning, and Pillow's error stays a second line of defence.
Image.MAX_IMAGE_PIXELS = DEFAULT_MAX_PIXELS

THUMB_HEIGHT = 200
THUMB_MAX_ASPECT = 10.0
DESKTOP_LONG_EDGE = 2048
"""The desktop rendition's long edge. Photos are decoded for it with `min_long_edge=DESKTOP_LONG_EDGE`
(libjpeg's draft mode; see `decode`): a 12 MP JPEG (4000 x 3000) decodes at half scale in 36 ms against
64 ms in full, and then needs no 57 ms area-averaging pass for detection, crops and the thumbnail."""
DRAFT_SLACK = 0.05
"""How far short of `min_long_edge` a draft decode may fall: a 4000 px JPEG decodes at 2000 px for a 2048 px
desktop, which is then resized up by 2.4 %. Against a Lanczos downscale of the full decode that desktop
measures 45.1 dB PSNR, closer than area-averaging the full decode (44.1 dB) and cheaper (72 against
121 ms), on the bench's 12 MP photos."""
FACE_CROP_MAX = 256
JPEG_QUALITY = 85
ANNOTATE_LONG_EDGE = 1280


# The Pillow plugin allowed to open each image type: a file is never handed to a decoder for another format.
_PILLOW_FORMATS = {
    MediaType.JPEG: "JPEG",
    MediaType.PNG: "PNG",
    MediaType.GIF: "GIF",
    MediaType.WEBP: "WEBP",
    MediaType.HEIC: "HEIF",
    MediaType.HEIF: "HEIF",
    MediaType.AVIF: "AVIF",
}
# ---------------------------------------------------------------------------------------------- decoding


@dataclass(frozen=True, slots=True)
class PhotoInfo:
    media_type: MediaType
    width: int  # of the full-resolution photo after EXIF orientation
    height: int
    taken_at: datetime | None  # EXIF DateTimeOriginal; timezone-aware only when OffsetTimeOriginal is set
    camera_make: str | None
    camera_model: str | None


@dataclass(frozen=True, slots=True)
class DecodedPhoto:
    image: Image.Image  # mode RGB, EXIF orientation applied
    info: PhotoInfo

    @property
    def scale(self) -> float:
        """`image.width / info.width`: below 1 when a JPEG was decoded in draft mode."""
        return self.image.width / self.info.width


Source = Path | str | bytes | BinaryIO


@functools.cache
def enable_heif() -> None:
    """Register the HEIF/HEIC opener with Pillow (idempotent; called by `decode`)."""
    import pillow_heif  # only needed for HEIC; registering mutates Pillow's plugin registry

    pillow_heif.register_heif_opener()


def decode(
    source: Source,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_long_edge: int | None = None,
) -> DecodedPhoto:
    """Decode a photo from a path, bytes or a binary file object into an upright RGB image.

    `min_long_edge`: when only a smaller image is needed, a JPEG is decoded in draft mode at the
    smallest 1/2, 1/4 or 1/8 scale whose long edge is still at least this, less `DRAFT_SLACK` (much
    faster for big photos).
    Raises `UnsupportedMedia`, `CorruptMedia` or `TooLarge`.
    """
    with _open_binary(source) as fp:
        head = fp.read(SNIFF_BYTES)
        fp.seek(0)
        media_type = _image_type(head)
        if media_type in (MediaType.HEIC, MediaType.HEIF):
            enable_heif()
        try:
            with Image.open(fp, formats=[_PILLOW_FORMATS[media_type]]) as im:
                return _decode_opened(
                    im, media_type=media_type, max_pixels=max_pixels, min_long_edge=min_long_edge
                )
        except MediaError:
            raise
        except Image.DecompressionBombError as e:
            raise TooLarge(_too_large_message(max_pixels)) from e
        except UnidentifiedImageError as e:
            raise CorruptMedia(f"This {media_type.name} file is damaged and cannot be opened.") from e
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError) as e:
            raise CorruptMedia(
                f"This {media_type.name} file is damaged or incomplete and cannot be read."
            ) from e


class _Closing:
    def __init__(self, fp: BinaryIO, *, owned: bool) -> None:
        self.fp = fp
        self.owned = owned

    def __enter__(self) -> BinaryIO:
        return self.fp

    def __exit__(self, *_: object) -> None:
        if self.owned:
            self.fp.close()


def _open_binary(source: Source) -> _Closing:
    if isinstance(source, bytes):
        return _Closing(io.BytesIO(source), owned=True)
    if isinstance(source, str | Path):
        return _Closing(Path(source).open("rb"), owned=True)
    if source.seekable():
        return _Closing(source, owned=False)
    return _Closing(io.BytesIO(source.read()), owned=True)


def _image_type(head: bytes) -> MediaType:
    media_type = sniff(head)
    if media_type is None:
        if looks_like_html(head):
            raise UnsupportedMedia("This is a web page, not a photo; the download probably needed a sign-in.")
        raise UnsupportedMedia("This file type is not supported; send a JPEG, PNG, GIF, WebP or HEIC photo.")
    if media_type.is_video:
        raise UnsupportedMedia(f"This is a video ({media_type.name}), not a photo.")
    return media_type


def _too_large_message(max_pixels: int) -> str:
    return f"This photo is too large to process (more than {max_pixels / 1e6:.0f} megapixels)."


def _decode_opened(
    im: Image.Image, *, media_type: MediaType, max_pixels: int, min_long_edge: int | None
) -> DecodedPhoto:
    width, height = im.size
    if width <= 0 or height <= 0:
        raise CorruptMedia("This photo has no pixels.")
    if width * height > max_pixels:
        raise TooLarge(_too_large_message(max_pixels))
    exif = im.getexif()
    orientation = int(exif.get(0x0112, 1) or 1)
    if min_long_edge is not None and media_type is MediaType.JPEG:
        ratio = min_long_edge * (1 - DRAFT_SLACK) / max(width, height)
        if ratio < 1:
            im.draft(None, (max(1, int(width * ratio + 0.999)), max(1, int(height * ratio + 0.999))))
    im.load()  # reads the first frame only (GIF, multi-image HEIF)
    ImageOps.exif_transpose(im, in_place=True)  # in place: no 12 MP copy when already upright
    rgb = to_rgb(im)
    full_w, full_h = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    taken_at, make, model = _exif_fields(exif)
    info = PhotoInfo(media_type, full_w, full_h, taken_at, make, model)
    return DecodedPhoto(image=rgb, info=info)


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB copy of any Pillow image: transparency flattened on white, 16-bit scaled to 8-bit."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or arr.max() > 255 else 255.0
        gray = Image.fromarray(np.clip(arr * (255.0 / peak), 0, 255).astype(np.uint8))
        return gray.convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA") if "transparency" in image.info else image.convert("RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


# ---------------------------------------------------------------------------------------------- EXIF

_EXIF_IFD = 0x8769
_MAKE, _MODEL = 0x010F, 0x0110
_DATETIME = 0x0132
_DATETIME_ORIGINAL, _DATETIME_DIGITIZED = 0x9003, 0x9004
_OFFSET_TIME_ORIGINAL = 0x9011
_OFFSET_RE = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def _exif_fields(exif: Image.Exif) -> tuple[datetime | None, str | None, str | None]:
    try:
        sub = exif.get_ifd(_EXIF_IFD)
    except (KeyError, ValueError, TypeError, OSError):
        sub = {}
    raw = sub.get(_DATETIME_ORIGINAL) or sub.get(_DATETIME_DIGITIZED) or exif.get(_DATETIME)
    taken_at = parse_exif_datetime(_text(raw), offset=_text(sub.get(_OFFSET_TIME_ORIGINAL)))
    return taken_at, _text(exif.get(_MAKE)), _text(exif.get(_MODEL))


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    cleaned = value.replace("\x00", "").strip()
    return cleaned or None


def parse_exif_datetime(value: str | None, *, offset: str | None = None) -> datetime | None:
    """Parse EXIF "YYYY:MM:DD HH:MM:SS" (+ optional "+HH:MM" offset); None when absent or invalid."""
    if not value:
        return None
    try:
        parsed = datetime.strptime(value[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    match = _OFFSET_RE.match(offset or "")
    if match:
        sign = -1 if match.group(1) == "-" else 1
        delta = timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
        if delta <= timedelta(hours=14):
            parsed = parsed.replace(tzinfo=timezone(sign * delta))
    return parsed


# ---------------------------------------------------------------------------------------------- renditions


class BoxLike(Protocol):
    """Anything with pixel box edges, e.g. `processing.faces.Box`."""

    @property
    def left(self) -> int: ...
    @property
    def top(self) -> int: ...
    @property
    def right(self) -> int: ...
    @property
    def bottom(self) -> int: ...


def fitted_size(size: tuple[int, int], *, long_edge: int) -> tuple[int, int]:
    """`size` scaled so its long edge is at most `long_edge` (never up; `size` itself if it fits)."""
    w, h = size
    if max(w, h) <= long_edge:
        return w, h
    ratio = long_edge / max(w, h)
    return max(1, round(w * ratio)), max(1, round(h * ratio))


def fit_within(image: Image.Image, *, long_edge: int) -> Image.Image:
    """Downscale so the long edge is at most `long_edge` (never upscales; returns `image` if it fits)."""
    size = fitted_size(image.size, long_edge=long_edge)
    if size == image.size:
        return image
    # Area averaging (BOX; Pillow rates its downscaling quality like BILINEAR's): 12 MP -> 2048 px takes
    # ~45 ms against ~75 ms bilinear and ~200 ms Lanczos, and it is on every photo's critical path.
    return image.resize(size, Image.Resampling.BOX)


def encode_jpeg(image: Image.Image, *, quality: int = JPEG_QUALITY) -> bytes:
    """Baseline JPEG without EXIF (orientation is already applied); the ICC profile is kept."""
    buf = io.BytesIO()
    icc = image.info.get("icc_profile")
    to_rgb(image).save(
        buf, "JPEG", quality=quality, progressive=False, optimize=False, icc_profile=icc if icc else None
    )
    return buf.getvalue()


def thumbnail_jpeg(*, image: Image.Image, height: int = THUMB_HEIGHT) -> bytes:
    """`thumb_h200.jpg`: exactly `height` px high, same aspect ratio (panoramas wider than
    `THUMB_MAX_ASPECT`:1 are centre-cropped to that ratio so the thumb stays small)."""
    w, h = image.size
    if w / h > THUMB_MAX_ASPECT:
        keep = round(h * THUMB_MAX_ASPECT)
        x0 = (w - keep) // 2
        image = image.crop((x0, 0, x0 + keep, h))
        w = keep
    size = (max(1, round(w * height / h)), height)
    # reducing_gap 2 (box-reduce to >= 2x the size, then Lanczos): 10 ms from 2000 x 1500 against 16 ms
    # with 3.0, and no visible difference at 200 px.
    return encode_jpeg(image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0))


def desktop_jpeg(
    *, image: Image.Image, full_size: tuple[int, int] | None = None, long_edge: int = DESKTOP_LONG_EDGE
) -> bytes:
    """`desktop.jpg`: the photo's full size (`full_size`, default `image.size`) fitted within `long_edge`
    px, never above the photo's own size. `image` may be a draft decode up to `DRAFT_SLACK` smaller
    than that; it is then resized up to it."""
    size = fitted_size(full_size or image.size, long_edge=long_edge)
    if size == image.size:
        return encode_jpeg(image)
    grows = size[0] > image.width
    return encode_jpeg(image.resize(size, Image.Resampling.BILINEAR if grows else Image.Resampling.BOX))


def renditions(*, image: Image.Image, full_size: tuple[int, int] | None = None) -> dict[str, bytes]:
    """Both photo renditions by file name (`full_size`: see `desktop_jpeg`)."""
    return {
        THUMB_NAME: thumbnail_jpeg(image=image),
        DESKTOP_NAME: desktop_jpeg(image=image, full_size=full_size),
    }


def face_crop_box(
    *, image_size: tuple[int, int], box: BoxLike, margin: float = 0.4
) -> tuple[int, int, int, int]:
    """A square region around `box` with `margin` x box size on every side, kept inside the image
    (shifted, then shrunk only when the image is too small)."""
    img_w, img_h = image_size
    cx, cy = (box.left + box.right) / 2, (box.top + box.bottom) / 2
    side = round(max(box.right - box.left, box.bottom - box.top, 1) * (1 + 2 * margin))
    side = max(1, min(side, img_w, img_h))
    left = min(max(round(cx - side / 2), 0), img_w - side)
    top = min(max(round(cy - side / 2), 0), img_h - side)
    return left, top, left + side, top + side


def face_crop_jpeg(
    *, image: Image.Image, box: BoxLike, margin: float = 0.4, max_size: int = FACE_CROP_MAX
) -> bytes:
    """JPEG of one face: square-ish crop with margin, at most `max_size` px per side."""
    region = face_crop_box(image_size=image.size, box=box, margin=margin)
    return encode_jpeg(fit_within(image.crop(region), long_edge=max_size))


# ---------------------------------------------------------------------------------------------- annotate

_BOX_COLOURS = ((255, 214, 0), (0, 200, 255), (255, 80, 160), (120, 255, 90), (255, 140, 0), (190, 120, 255))


def annotate(
    *,
    image: Image.Image,
    boxes_with_labels: Sequence[tuple[BoxLike, str]],
    long_edge: int = ANNOTATE_LONG_EDGE,
) -> bytes:
    """JPEG preview (downscaled copy) with each box drawn and its label (e.g. "1", "2") on a tag,
    so people can tell which face is which.

    The preview is shrunk by a whole factor (its long edge is over half of `long_edge` and at most
    `long_edge`): `reduce(2)` of a 2000 x 1500 photo takes 4 ms against 24 ms to resample it to 1280 px,
    and chat clients show this picture smaller than 1000 px anyway.
    """
    rgb = to_rgb(image)
    factor = -(-max(rgb.size) // long_edge)  # ceiling division
    preview = rgb.reduce(factor) if factor > 1 else rgb.copy()
    ratio = preview.width / image.width
    draw = ImageDraw.Draw(preview)
    line = max(2, round(max(preview.size) / 400))
    font = ImageFont.load_default(size=max(14, round(max(preview.size) / 45)))
    for i, (box, label) in enumerate(boxes_with_labels):
        colour = _BOX_COLOURS[i % len(_BOX_COLOURS)]
        rect = (box.left * ratio, box.top * ratio, box.right * ratio, box.bottom * ratio)
        draw.rectangle(rect, outline=colour, width=line)
        tl, tt, tr, tb = draw.textbbox((0, 0), label, font=font)
        pad = line + 1
        tag_w, tag_h = tr - tl + 2 * pad, tb - tt + 2 * pad
        tag_x = min(max(rect[0], 0), preview.width - tag_w)
        tag_y = rect[1] - tag_h if rect[1] - tag_h >= 0 else min(rect[3], preview.height - tag_h)
        draw.rectangle((tag_x, tag_y, tag_x + tag_w, tag_y + tag_h), fill=colour)
        draw.text((tag_x + pad - tl, tag_y + pad - tt), label, fill=(0, 0, 0), font=font)
    return encode_jpeg(preview)
