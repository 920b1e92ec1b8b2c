"""processing.images on real photos from the shared face data (read in place, never copied)."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from processing import images, media_types, results
from processing.errors import CorruptMedia, TooLarge, UnsupportedMedia
from processing.faces import Box
from processing.media_types import MediaType
from tests.support.shared import FACES as DATA

OBAMA_SMALL = DATA / "face_recognition/examples/obama_small.jpg"  # 320 x 240
GROUP = DATA / "dlib/examples/faces/2007_007763.jpg"  # 500 x 375
RGBA_PNG = DATA / "face_recognition/examples/alex-lacamoire.png"


def _rgb(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def _encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------------------------------------- sniff


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", MediaType.JPEG),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", MediaType.PNG),
        (b"GIF89a\x01\x00\x01\x00", MediaType.GIF),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", MediaType.WEBP),
        (b"RIFF\x24\x00\x00\x00AVI LIST", MediaType.AVI),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", MediaType.HEIC),
        (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic", MediaType.HEIC),
        (b"\x00\x00\x00\x14ftypmif1\x00\x00\x00\x00mif1", MediaType.HEIF),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", MediaType.AVIF),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41", MediaType.MP4),
        (b"\x00\x00\x00\x1cftypmp42\x00\x00\x00\x00mp42isom", MediaType.MP4),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  ", MediaType.MOV),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm\x42\x87", MediaType.WEBM),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska", MediaType.MKV),
        (b"<!DOCTYPE html><html><head>", None),
        (b"%PDF-1.7\n", None),
        (b"", None),
    ],
)
def test_sniff_recognises_magic_bytes(head: bytes, expected: MediaType | None) -> None:
    assert media_types.sniff(head) == expected


def test_sniff_real_files_and_encoders() -> None:
    photo = _rgb(OBAMA_SMALL)
    assert media_types.sniff(OBAMA_SMALL.read_bytes()[: media_types.SNIFF_BYTES]) is MediaType.JPEG
    assert media_types.sniff(RGBA_PNG.read_bytes()[:64]) is MediaType.PNG
    assert media_types.sniff(_encoded(photo, "WEBP")[:64]) is MediaType.WEBP
    assert media_types.sniff(_encoded(photo, "GIF")[:64]) is MediaType.GIF
    assert media_types.sniff(_encoded(photo, "AVIF")[:64]) is MediaType.AVIF
    video = DATA / "face_recognition/examples/short_hamilton_clip.mp4"
    assert media_types.sniff(video.read_bytes()[:64]) is MediaType.MP4
    assert MediaType.MP4.is_video
    assert MediaType.HEIC.mime == "image/heic"


def test_html_is_not_media() -> None:
    page = b"\xef\xbb\xbf\n  <!doctype html>\n<html lang=en><title>Sign in</title>"
    assert media_types.sniff(page) is None
    assert media_types.looks_like_html(page)
    assert not media_types.looks_like_html(OBAMA_SMALL.read_bytes()[:64])
    with pytest.raises(UnsupportedMedia, match="web page"):
        images.decode(page)


# ---------------------------------------------------------------------------------------------- decode


def test_decode_jpeg_path_bytes_and_stream() -> None:
    by_path = images.decode(OBAMA_SMALL)
    assert by_path.image.mode == "RGB"
    assert by_path.image.size == (320, 240)
    assert by_path.info.media_type is MediaType.JPEG
    assert by_path.scale == 1.0
    assert images.decode(OBAMA_SMALL.read_bytes()).image.size == (320, 240)

    class NoSeek(io.BytesIO):  # like a network stream: no seeking
        def seekable(self) -> bool:
            return False

    streamed = images.decode(NoSeek(OBAMA_SMALL.read_bytes()))
    assert np.array_equal(np.asarray(streamed.image), np.asarray(by_path.image))


def test_rgba_png_is_flattened_to_rgb() -> None:
    photo = images.decode(RGBA_PNG)
    assert photo.image.mode == "RGB"
    assert photo.info.media_type is MediaType.PNG


def test_gif_first_frame() -> None:
    frames = [Image.new("RGB", (40, 30), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    photo = images.decode(buf.getvalue())
    assert photo.info.media_type is MediaType.GIF
    r, _, b = photo.image.getpixel((20, 15))  # type: ignore[misc]
    assert r > 200
    assert b < 50


def test_exif_orientation_is_applied_and_metadata_read() -> None:
    upright = _rgb(OBAMA_SMALL)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a camera held sideways stores
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 5D\x00"
    exif.get_ifd(0x8769)[0x9003] = "2023:07:14 18:30:05"
    exif.get_ifd(0x8769)[0x9011] = "-04:00"
    photo = images.decode(_encoded(stored, "JPEG", quality=95, exif=exif))
    assert photo.image.size == (320, 240)
    assert (photo.info.width, photo.info.height) == (320, 240)
    diff = np.abs(np.asarray(photo.image, dtype=np.int16) - np.asarray(upright, dtype=np.int16)).mean()
    assert diff < 6
    assert photo.info.taken_at == datetime(2023, 7, 14, 18, 30, 5, tzinfo=timezone(-timedelta(hours=4)))
    assert photo.info.camera_make == "Canon"
    assert photo.info.camera_model == "Canon EOS 5D"


def test_exif_date_without_offset_is_naive() -> None:
    assert images.parse_exif_datetime("2021:01:02 03:04:05") == datetime(2021, 1, 2, 3, 4, 5)
    assert images.parse_exif_datetime("0000:00:00 00:00:00") is None
    assert images.parse_exif_datetime("    ") is None
    assert images.parse_exif_datetime(None) is None


def test_draft_decode_keeps_full_size_in_info() -> None:
    big = _rgb(GROUP).resize((4000, 3000), Image.Resampling.BILINEAR)
    photo = images.decode(_encoded(big, "JPEG", quality=80), min_long_edge=1000)
    assert photo.image.size == (1000, 750)
    assert (photo.info.width, photo.info.height) == (4000, 3000)
    assert photo.scale == 0.25


def test_draft_decode_applies_exif_orientation() -> None:
    upright = _rgb(GROUP).resize((3000, 4000), Image.Resampling.BILINEAR)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways, "rotate 90 CW to display"
    stored = _encoded(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=80, exif=exif)
    photo = images.decode(stored, min_long_edge=1500)
    assert photo.image.size == (1500, 2000)  # half scale: the smallest that keeps 1500 px
    assert (photo.info.width, photo.info.height) == (3000, 4000)
    half = np.asarray(upright.reduce(2), dtype=np.int16)
    assert np.abs(np.asarray(photo.image, dtype=np.int16) - half).mean() < 6


def test_heic_round_trip() -> None:
    images.enable_heif()
    photo = _rgb(GROUP)
    data = _encoded(photo, "HEIF", quality=80)
    assert media_types.sniff(data[:64]) in (MediaType.HEIC, MediaType.HEIF)
    decoded = images.decode(data)
    assert decoded.image.size == photo.size
    assert decoded.info.media_type in (MediaType.HEIC, MediaType.HEIF)
    diff = np.abs(np.asarray(decoded.image, dtype=np.int16) - np.asarray(photo, dtype=np.int16)).mean()
    assert diff < 8
    rotated = Image.Exif()
    rotated[0x0112] = 6  # libheif applies the rotation itself; it must not be applied twice
    sideways = images.decode(_encoded(photo, "HEIF", quality=60, exif=rotated.tobytes()))
    assert sideways.image.size == (photo.height, photo.width)
    assert (sideways.info.width, sideways.info.height) == (photo.height, photo.width)


def test_truncated_and_damaged_files_are_corrupt() -> None:
    data = OBAMA_SMALL.read_bytes()
    with pytest.raises(CorruptMedia) as truncated:
        images.decode(data[: len(data) // 2])
    assert str(truncated.value).endswith(".")
    with pytest.raises(CorruptMedia):
        images.decode(b"\xff\xd8\xff" + b"\x00" * 500)


def test_unsupported_types() -> None:
    with pytest.raises(UnsupportedMedia, match="video"):
        images.decode((DATA / "face_recognition/examples/short_hamilton_clip.mp4").read_bytes()[:4096])
    with pytest.raises(UnsupportedMedia, match="not supported"):
        images.decode(b"%PDF-1.7\n" + b"\x00" * 100)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow's, for 144 MP
def test_decompression_bomb_is_refused_before_decoding() -> None:
    with pytest.raises(TooLarge, match="megapixels"):
        images.decode(_png_header_only(12_000, 12_000))  # 144 MP > 100 MP default
    with pytest.raises(TooLarge):
        images.decode(_png_header_only(40_000, 40_000))  # beyond Pillow's own bomb limit too
    with pytest.raises(TooLarge):
        images.decode(OBAMA_SMALL, max_pixels=320 * 240 - 1)


def test_a_photo_under_the_limit_raises_no_bomb_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(CorruptMedia):  # 95 MP: past Pillow's default warning, a header only
            images.decode(_png_header_only(10_000, 9_500))


# ---------------------------------------------------------------------------------------------- renditions


def test_thumbnail_is_exactly_200_high_with_same_aspect() -> None:
    for size in ((4000, 3000), (3000, 4000), (320, 240), (1999, 1001)):
        thumb = Image.open(io.BytesIO(images.thumbnail_jpeg(image=Image.new("RGB", size, "gray"))))
        assert thumb.format == "JPEG"
        assert thumb.height == 200
        assert abs(thumb.width - size[0] * 200 / size[1]) <= 0.5


def test_desktop_long_edge_2048_never_upscaled() -> None:
    big = Image.open(io.BytesIO(images.desktop_jpeg(image=Image.new("RGB", (4000, 3000), "gray"))))
    assert big.size == (2048, 1536)
    small = Image.open(io.BytesIO(images.desktop_jpeg(image=_rgb(OBAMA_SMALL))))
    assert small.size == (320, 240)
    names = images.renditions(image=_rgb(GROUP))
    assert set(names) == {results.THUMB_NAME, results.DESKTOP_NAME}


def test_desktop_of_a_draft_decode_is_resized_up_to_2048(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    _rgb(GROUP).resize((4000, 3000), Image.Resampling.BILINEAR).save(path, "JPEG", quality=80)
    photo = images.decode(path, min_long_edge=images.DESKTOP_LONG_EDGE)
    assert photo.image.size == (2000, 1500)
    desktop = Image.open(io.BytesIO(images.desktop_jpeg(image=photo.image, full_size=(4000, 3000))))
    assert desktop.size == (2048, 1536)


@pytest.mark.parametrize("size", [(4000, 3000), (3000, 4032), (8200, 2000)])
def test_photo_pipeline_makes_a_2048_px_desktop_and_a_200_px_thumb(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    from processing.photo import analyze_photo

    path = tmp_path / "big.jpg"
    _rgb(GROUP).resize(size, Image.Resampling.BILINEAR).save(path, "JPEG", quality=80)
    result = analyze_photo(str(path))
    desktop = Image.open(io.BytesIO(result.renditions[results.DESKTOP_NAME]))
    assert max(desktop.size) == images.DESKTOP_LONG_EDGE
    assert abs(desktop.width / desktop.height - size[0] / size[1]) < 0.01
    thumb = Image.open(io.BytesIO(result.renditions[results.THUMB_NAME]))
    assert thumb.height == images.THUMB_HEIGHT
    assert (result.width, result.height) == size


def test_renditions_strip_exif() -> None:
    exif = Image.Exif()
    exif[0x0110] = "Secret Phone"
    photo = images.decode(_encoded(_rgb(OBAMA_SMALL), "JPEG", exif=exif))
    desktop = Image.open(io.BytesIO(images.desktop_jpeg(image=photo.image)))
    assert 0x0110 not in desktop.getexif()
    assert not desktop.info.get("progressive")


def test_face_crop_square_with_margin_inside_image() -> None:
    photo = _rgb(GROUP)
    crop = Image.open(io.BytesIO(images.face_crop_jpeg(image=photo, box=Box(381, 89, 426, 133))))
    assert crop.width == crop.height
    assert crop.width <= images.FACE_CROP_MAX
    region = images.face_crop_box(image_size=(500, 375), box=Box(480, 350, 500, 375), margin=0.5)
    left, top, right, bottom = region
    assert 0 <= left < right <= 500
    assert 0 <= top < bottom <= 375
    assert right - left == bottom - top
    huge = images.face_crop_box(image_size=(4000, 3000), box=Box(1000, 1000, 2000, 2000))
    big_crop = images.face_crop_jpeg(image=Image.new("RGB", (4000, 3000)), box=Box(1000, 1000, 2000, 2000))
    assert huge[2] - huge[0] == 1800
    assert Image.open(io.BytesIO(big_crop)).size == (256, 256)


def test_annotate_draws_numbered_boxes_on_downscaled_copy() -> None:
    photo = _rgb(GROUP).resize((2000, 1500))
    boxes = [(Box(1524, 356, 1704, 532), "1"), (Box(376, 792, 524, 940), "2")]
    data = images.annotate(image=photo, boxes_with_labels=boxes)
    preview = Image.open(io.BytesIO(data))
    assert preview.format == "JPEG"
    assert images.ANNOTATE_LONG_EDGE / 2 < max(preview.size) <= images.ANNOTATE_LONG_EDGE
    ratio = preview.width / photo.width
    r, g, b = preview.getpixel((round(1524 * ratio) + 1, round(444 * ratio)))  # type: ignore[misc]
    assert r > 200  # first box outline is yellow
    assert g > 150
    assert b < 100
    assert photo.size == (2000, 1500)  # the original is untouched
