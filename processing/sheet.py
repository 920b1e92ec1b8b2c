"""A contact sheet: face crops side by side, each with its number."""

from __future__ import annotations

import io
import math

from PIL import Image, ImageDraw, ImageFont

from processing.images import encode_jpeg

CELL = 160


def contact_sheet(*, crops: list[bytes], labels: list[str], columns: int = 6) -> bytes:
    count = max(1, len(crops))
    cols = min(columns, count)
    rows = math.ceil(count / cols)
    sheet = Image.new("RGB", (cols * CELL, rows * CELL), (32, 32, 32))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=22)
    for i, (data, label) in enumerate(zip(crops, labels, strict=False)):
        with Image.open(io.BytesIO(data)) as im:
            tile = im.convert("RGB")
        tile.thumbnail((CELL - 4, CELL - 4))
        x, y = (i % cols) * CELL + 2, (i // cols) * CELL + 2
        sheet.paste(tile, (x, y))
        draw.rectangle((x, y, x + 30, y + 28), fill=(255, 214, 0))
        draw.text((x + 6, y + 2), label, fill=(0, 0, 0), font=font)
    return encode_jpeg(sheet)
