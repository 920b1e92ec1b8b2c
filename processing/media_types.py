"""What a file is, from its first bytes (never from its name): `sniff` and `MediaType`.

Kept free of Pillow and numpy: the web process sniffs every download before storing it, and pixel
work (which needs those libraries) runs in the pool processes only.
"""

from __future__ import annotations

from enum import StrEnum

SNIFF_BYTES = 64
"""How many leading bytes `sniff` needs to tell every supported type apart."""


class MediaType(StrEnum):
    JPEG = "jpeg"
    PNG = "png"
    GIF = "gif"
    WEBP = "webp"
    HEIC = "heic"
    HEIF = "heif"
    AVIF = "avif"
    MP4 = "mp4"
    MOV = "mov"
    WEBM = "webm"
    MKV = "mkv"
    AVI = "avi"

    @property
    def is_video(self) -> bool:
        return self in _VIDEO_TYPES

    @property
    def is_image(self) -> bool:
        return not self.is_video

    @property
    def mime(self) -> str:
        return _MIME[self]


_VIDEO_TYPES = frozenset({MediaType.MP4, MediaType.MOV, MediaType.WEBM, MediaType.MKV, MediaType.AVI})
_MIME = {
    MediaType.JPEG: "image/jpeg",
    MediaType.PNG: "image/png",
    MediaType.GIF: "image/gif",
    MediaType.WEBP: "image/webp",
    MediaType.HEIC: "image/heic",
    MediaType.HEIF: "image/heif",
    MediaType.AVIF: "image/avif",
    MediaType.MP4: "video/mp4",
    MediaType.MOV: "video/quicktime",
    MediaType.WEBM: "video/webm",
    MediaType.MKV: "video/x-matroska",
    MediaType.AVI: "video/x-msvideo",
}
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1", b"mif2"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_MOV_BRANDS = frozenset({b"qt  "})
_MP4_BRANDS = frozenset(
    {
        b"isom",
        b"iso2",
        b"iso3",
        b"iso4",
        b"iso5",
        b"iso6",
        b"mp41",
        b"mp42",
        b"avc1",
        b"dash",
        b"M4V ",
        b"M4VH",
    }
    | {b"M4VP", b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"3g2b", b"3g2c", b"MSNV", b"XAVC", b"f4v ", b"mmp4"}
)
_HTML_PREFIXES = (b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<!--", b"<?xml", b"<meta")


def sniff(first_bytes: bytes) -> MediaType | None:
    """The media type from the leading bytes (give at least `SNIFF_BYTES`), never from a file name.

    None means "not a photo or video we know", which includes HTML pages (see `looks_like_html`).
    """
    b = first_bytes
    if b.startswith(b"\xff\xd8\xff"):
        return MediaType.JPEG
    if b.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaType.PNG
    if b.startswith((b"GIF87a", b"GIF89a")):
        return MediaType.GIF
    if b.startswith(b"RIFF") and len(b) >= 12:
        return {b"WEBP": MediaType.WEBP, b"AVI ": MediaType.AVI}.get(b[8:12])
    if b.startswith(b"\x1a\x45\xdf\xa3"):
        return MediaType.WEBM if b"webm" in b[:SNIFF_BYTES] else MediaType.MKV
    if b[4:8] == b"ftyp":
        return _sniff_ftyp(b)
    return None


def _sniff_ftyp(b: bytes) -> MediaType | None:
    box_size = int.from_bytes(b[0:4], "big")
    major = b[8:12]
    end = min(len(b), box_size) if box_size >= 16 else len(b)
    compatible = {b[i : i + 4] for i in range(16, end - 3, 4)}
    brands = [major, *sorted(compatible)]
    for table, media_type in (
        (_AVIF_BRANDS, MediaType.AVIF),
        (_HEIC_BRANDS, MediaType.HEIC),
        (_MOV_BRANDS, MediaType.MOV),
        (_MP4_BRANDS, MediaType.MP4),
    ):
        if major in table:
            return media_type
    if major in _HEIF_BRANDS:
        if compatible & _AVIF_BRANDS:
            return MediaType.AVIF
        return MediaType.HEIC if compatible & _HEIC_BRANDS else MediaType.HEIF
    for brand in brands:  # an unusual major brand that lists a known compatible one
        for table, media_type in ((_MP4_BRANDS, MediaType.MP4), (_MOV_BRANDS, MediaType.MOV)):
            if brand in table:
                return media_type
    return None


def looks_like_html(first_bytes: bytes) -> bool:
    """True for web pages (what a file download returns when it needs a login)."""
    head = first_bytes.lstrip(b"\xef\xbb\xbf").lstrip()[:32].lower()
    return head.startswith(_HTML_PREFIXES)
