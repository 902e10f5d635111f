"""Server-side PNG of an annotation drawing, matching what the react-konva editor shows.

Used for printed reports, PDF exports and thumbnails, where no browser is at hand. The output
follows Konva's canvas semantics:

* stage pixels, origin top-left, a pixel covers [i, i+1) so its centre is i + 0.5;
* the background is its own layer, stretched to the stage size; the drawing layer above it
  holds all ``lines`` in order, then all ``shapes`` in order (the editor's lines group lies
  below its shapes group);
* pen lines are stroked with round caps and joins, tension 0; an eraser line is
  ``destination-out``: it clears what was painted before it on the drawing layer (earlier
  lines; shapes are painted after every line, so no eraser reaches them) and never the
  background;
* circle (centre x, y) and rect (top-left x, y) are stroke only, centred on the outline,
  rect corners mitred (Konva's default join); arrow = a butt-capped shaft plus a filled,
  stroked head (pointerLength 10, pointerWidth 10, mitred), whose outline is the head offset
  outwards by strokeWidth / 2; text = fill only, DejaVu Sans, top-left x, y, one line per
  ``\\n`` with line height = fontSize, vertically centred in it (Konva's ``middle`` baseline).

Anti-aliasing: the layer is painted at 2× with hard edges and reduced with LANCZOS; the tests
check every edge lands within 1 px of the exact geometry (measured: 0.5 px at most). Lanczos
rings slightly at hard edges (a 4-px line: outer rows at 95 %, a 5 % halo one pixel out); BOX
would not, at the same accuracy. Outputs above ``MAX_SUPERSAMPLED_PIXELS`` are painted at 1×
(hard edges) to bound memory.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

SUPERSAMPLE: Final = 2
# Above this many output pixels, paint at 1×: the 2× RGBA layer would need 16 bytes a pixel.
MAX_SUPERSAMPLED_PIXELS: Final = 4_000_000
# 25 MP (an A4 page at 300 dpi is 8.7 MP): the 1× layer, its crop and the output stay < 300 MB.
MAX_OUTPUT_PIXELS: Final = 25_000_000
MIN_SCALE: Final = 0.05
MAX_SCALE: Final = 8.0
POINTER_LENGTH: Final = 10.0  # Konva.Arrow defaults, in stage pixels
POINTER_WIDTH: Final = 10.0
# Lanczos reads 3 output pixels each side; twice that keeps the cropped reduction identical
# to reducing the whole layer (no renormalised weights at the crop edge touch content).
_CROP_MARGIN: Final = 2 * 3 * SUPERSAMPLE + SUPERSAMPLE
_POLYGON_INSET: Final = 0.25
_RING_ROWS: Final = 256
# zlib level 1: on an 800×600 photo 60 ms and 6% larger than level 3 (160 ms), 13% larger
# than Pillow's default 6 (380 ms); rendering runs while a report is being exported.
PNG_COMPRESS_LEVEL: Final = 1
FONT_PATH: Final = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
DEFAULT_FONT_SIZE: Final = 18.0
WHITE: Final = (255, 255, 255)
ERASE: Final = (0, 0, 0, 0)

Point = tuple[float, float]
Ink = tuple[int, int, int, int]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def render_png(
    data: dict[str, Any], background: Image.Image | None, *, scale: float = 1.0
) -> bytes:
    """The drawing over its background as PNG bytes, ``stageSize × scale`` pixels.

    ``data`` is a drawing that passed ``validate_drawing``; ``background`` the decoded image or
    PDF page (None: white). The background is stretched to the stage, as the editor sizes the
    stage to the background's aspect ratio.
    """
    width, height = _output_size(data, scale)
    ss = SUPERSAMPLE if width * height <= MAX_SUPERSAMPLED_PIXELS else 1
    layer = Image.new("RGBA", (width * ss, height * ss), ERASE)
    stage = data["stageSize"]
    kx, ky = width * ss / float(stage["width"]), height * ss / float(stage["height"])
    painter = _Painter(layer, kx=kx, ky=ky, kw=scale * ss)
    for line in data.get("lines", []):
        painter.line(line)
    for shape in data.get("shapes", []):
        painter.shape(shape)
    out = _background(background, (width, height))
    _composite(out, layer, ss)
    buffer = io.BytesIO()
    out.save(buffer, format="PNG", optimize=False, compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def thumbnail_png(png: bytes, max_side: int = 320) -> bytes:
    """A smaller PNG (longest side ``max_side``, aspect kept, never enlarged) for lists."""
    if max_side < 1:
        raise ValueError("max_side must be at least 1")
    with Image.open(io.BytesIO(png), formats=["PNG"]) as image:
        image.load()
        small = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    small.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    buffer = io.BytesIO()
    small.save(buffer, format="PNG", optimize=False, compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


# --- painting ---------------------------------------------------------------------------------


class _Painter:
    """Paints stage-coordinate geometry onto the (possibly supersampled) drawing layer.

    PIL takes integer pixel indices; a stage point p maps to k·p, whose pixel index is
    round(k·p - 0.5). Filled boxes [a, b) in layer pixels become the inclusive index box
    [round(a), round(b) - 1]: exactly the pixels whose centres fall inside.
    """

    def __init__(self, layer: Image.Image, *, kx: float, ky: float, kw: float) -> None:
        self.layer = layer
        self.draw = ImageDraw.Draw(layer)
        self.kx, self.ky, self.kw = kx, ky, kw

    def line(self, line: dict[str, Any]) -> None:
        ink = ERASE if line.get("tool") == "eraser" else _ink(line.get("color"))
        flat = line.get("points") or []
        points = [(flat[i] * self.kx, flat[i + 1] * self.ky) for i in range(0, len(flat) - 1, 2)]
        if len(points) < 2:  # a single moveTo strokes nothing on a canvas
            return
        self._round_polyline(points, float(line.get("strokeWidth", 1)) * self.kw, ink)

    def shape(self, shape: dict[str, Any]) -> None:
        kind = shape.get("type")
        ink = _ink(shape.get("color"))
        x, y = float(shape.get("x", 0)) * self.kx, float(shape.get("y", 0)) * self.ky
        stroke = float(shape.get("strokeWidth", 2)) * self.kw
        if kind == "circle":
            radius = float(shape.get("radius", 0))
            self._ring(x, y, radius * self.kx, radius * self.ky, stroke, ink)
        elif kind == "rect":
            w, h = float(shape.get("width", 0)) * self.kx, float(shape.get("height", 0)) * self.ky
            self._rect_outline(x, y, x + w, y + h, stroke, ink)
        elif kind == "arrow":
            p = [float(v) for v in shape.get("points") or [0, 0, 0, 0]]
            start = (x + p[0] * self.kx, y + p[1] * self.ky)
            end = (x + p[2] * self.kx, y + p[3] * self.ky)
            self._arrow(start, end, stroke, ink)
        elif kind == "text":
            size = float(shape.get("fontSize") or DEFAULT_FONT_SIZE)
            self._text(x, y, str(shape.get("text", "")), size, ink)

    # Primitive strokes, all in layer pixels.

    def _round_polyline(self, points: Sequence[Point], width: float, ink: Ink) -> None:
        """Round caps and joins = every segment plus a disc of the stroke's diameter per point.

        Each segment is painted as its exact quadrilateral rather than ``ImageDraw.line``:
        PIL's wide lines snap ends and width to whole pixels and put the odd pixel on one
        side, up to 1.7 layer pixels off; the quadrilateral stays within 0.8.
        """
        half = width / 2
        for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
            self._segment(x0, y0, x1, y1, half, ink)
        for px, py in points:
            self._fill_ellipse(px - half, py - half, px + half, py + half, ink)

    def _segment(self, x0: float, y0: float, x1: float, y1: float, half: float, ink: Ink) -> None:
        length = math.hypot(x1 - x0, y1 - y0)
        if length == 0:
            return
        # PIL fills a polygon's boundary pixels too; pulling the edges in by a quarter pixel
        # balances that (measured: fewest pixels off, none by more than 0.8 px).
        h = max(half - _POLYGON_INSET, 0.0)
        nx, ny = -(y1 - y0) / length * h, (x1 - x0) / length * h
        quad = [(x0 + nx, y0 + ny), (x1 + nx, y1 + ny), (x1 - nx, y1 - ny), (x0 - nx, y0 - ny)]
        self.draw.polygon([self._index(p) for p in quad], fill=ink)

    def _ring(self, cx: float, cy: float, rx: float, ry: float, stroke: float, ink: Ink) -> None:
        """Pixels whose centres lie within stroke / 2 of the outline, computed per pixel.

        Not ``ImageDraw.ellipse``: its cost grows with the radius even when clipped (a radius of
        100,000 at scale 8 took 143 s), and subtracting an inner disc would need a mask
        anyway so lines beneath the hole survive. Rows go in chunks to bound memory.
        """
        half = stroke / 2
        left = max(0, math.floor(cx - rx - half))
        right = min(self.layer.width, math.ceil(cx + rx + half) + 1)
        top = max(0, math.floor(cy - ry - half))
        bottom = min(self.layer.height, math.ceil(cy + ry + half) + 1)
        if right <= left or bottom <= top or rx <= 0 or ry <= 0:  # canvas: no radius, no ring
            return
        squash = rx / ry  # stretched stages make a slight ellipse
        xs = (np.arange(left, right, dtype=np.float64) + 0.5 - cx) ** 2
        for row in range(top, bottom, _RING_ROWS):
            end = min(row + _RING_ROWS, bottom)
            ys = ((np.arange(row, end, dtype=np.float64) + 0.5 - cy) * squash) ** 2
            distance = np.sqrt(ys[:, None] + xs[None, :])
            hit = (distance <= rx + half) & (distance >= rx - half)
            if hit.any():
                mask = Image.fromarray(hit.astype(np.uint8) * 255, mode="L")
                self.layer.paste(ink, (left, row, right, end), mask)

    def _rect_outline(
        self, x0: float, y0: float, x1: float, y1: float, stroke: float, ink: Ink
    ) -> None:
        x0, x1 = min(x0, x1), max(x0, x1)
        y0, y1 = min(y0, y1), max(y0, y1)
        h = stroke / 2
        if x1 - x0 <= stroke or y1 - y0 <= stroke:  # no hole left: one filled box
            self._fill_box(x0 - h, y0 - h, x1 + h, y1 + h, ink)
            return
        self._fill_box(x0 - h, y0 - h, x1 + h, y0 + h, ink)  # top, mitred corners included
        self._fill_box(x0 - h, y1 - h, x1 + h, y1 + h, ink)  # bottom
        self._fill_box(x0 - h, y0 + h, x0 + h, y1 - h, ink)  # left
        self._fill_box(x1 - h, y0 + h, x1 + h, y1 - h, ink)  # right

    def _arrow(self, start: Point, end: Point, stroke: float, ink: Ink) -> None:
        self._segment(*start, *end, stroke / 2, ink)  # butt caps; no length, no shaft
        # Konva: atan2(dy, dx) of the last segment, 0 (pointing right) when it has no length.
        angle = math.atan2(end[1] - start[1], end[0] - start[0])
        ux, uy = math.cos(angle), math.sin(angle)
        length, half_width = POINTER_LENGTH * self.kw, POINTER_WIDTH * self.kw / 2
        base = (end[0] - ux * length, end[1] - uy * length)
        head = [
            end,
            (base[0] - uy * half_width, base[1] + ux * half_width),
            (base[0] + uy * half_width, base[1] - ux * half_width),
        ]
        outline = _offset_triangle(head, max(stroke / 2 - _POLYGON_INSET, 0.0))
        self.draw.polygon([self._index(p) for p in outline], fill=ink)

    def _text(self, x: float, y: float, text: str, size: float, ink: Ink) -> None:
        font = _font(round(size * self.kw * 4) / 4)  # quarter-pixel sizes: a bounded cache
        line_height = size * self.ky
        reach = line_height * 2  # glyph overhangs, generously
        for i, row in enumerate(text.split("\n")):
            middle = y + line_height * (i + 0.5)
            if not row or middle + reach < 0 or middle - reach > self.layer.height:
                continue
            # PIL renders a whole row into one bitmap: 500 characters at 200 px × 16 would be
            # gigabytes. Keep only the characters that can reach the layer.
            start_x, row = _visible_part(row, font, x, -reach, self.layer.width + reach)
            if row:
                self.draw.text((start_x, middle), row, fill=ink, font=font, anchor="lm")

    # Pixel mapping.

    @staticmethod
    def _index(p: Point) -> tuple[int, int]:
        return _round(p[0] - 0.5), _round(p[1] - 0.5)

    def _fill_ellipse(self, x0: float, y0: float, x1: float, y1: float, ink: Ink) -> None:
        box = _index_box(x0, y0, x1, y1)
        if box:
            self.draw.ellipse(box, fill=ink)

    def _fill_box(self, x0: float, y0: float, x1: float, y1: float, ink: Ink) -> None:
        box = _index_box(x0, y0, x1, y1)
        if box:
            self.draw.rectangle(box, fill=ink)


def _index_box(x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int] | None:
    """Pixels whose centres lie in [x0, x1) × [y0, y1), as PIL's inclusive box; None if none."""
    box = (_round(x0), _round(y0), _round(x1) - 1, _round(y1) - 1)
    return box if box[2] >= box[0] and box[3] >= box[1] else None


def _visible_part(row: str, font: Font, x: float, low: float, high: float) -> tuple[float, str]:
    """The characters of ``row`` drawn at ``x`` that fall within [low, high], and where they start.

    Advances are summed per character (kerning across the cut is lost, invisible off-layer).
    """
    if len(row) <= 8:
        return x, row
    advances = [font.getlength(ch) for ch in row]
    first, position = 0, x
    while first < len(row) - 1 and position + advances[first] < low:
        position += advances[first]
        first += 1
    last, end = first, position
    while last < len(row) and end <= high:
        end += advances[last]
        last += 1
    return position, row[first:last]


def _round(value: float) -> int:
    """Half up, unlike round(): 99.5 and 100.5 must not land on the same side of a pixel."""
    return math.floor(value + 0.5)


def _offset_triangle(triangle: Sequence[Point], distance: float) -> list[Point]:
    """A triangle's mitred stroke outline: the same triangle grown about its incentre.

    Offsetting each edge outwards by ``distance`` keeps a triangle similar to itself, with the
    inradius grown by ``distance``; the head's corners stay far below the miter limit of 10.
    """
    (ax, ay), (bx, by), (cx, cy) = triangle
    a = math.dist((bx, by), (cx, cy))  # the side opposite each corner
    b = math.dist((ax, ay), (cx, cy))
    c = math.dist((ax, ay), (bx, by))
    perimeter = a + b + c
    area = abs((bx - ax) * (cy - ay) - (cx - ax) * (by - ay)) / 2
    if perimeter == 0 or area == 0:
        return list(triangle)
    ix, iy = (a * ax + b * bx + c * cx) / perimeter, (a * ay + b * by + c * cy) / perimeter
    factor = (2 * area / perimeter + distance) / (2 * area / perimeter)
    return [(ix + (px - ix) * factor, iy + (py - iy) * factor) for px, py in triangle]


@lru_cache(maxsize=64)
def _font(size: float) -> Font:
    size = max(size, 1.0)
    try:
        return ImageFont.truetype(str(FONT_PATH), size)
    except OSError:  # fonts-dejavu-core missing: Pillow's bundled font, same layout rules
        return ImageFont.load_default(size)


def _ink(color: object) -> Ink:
    text = str(color or "#000000")
    try:
        return int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16), 255
    except ValueError:
        return 0, 0, 0, 255


# --- layers -----------------------------------------------------------------------------------


def _output_size(data: dict[str, Any], scale: float) -> tuple[int, int]:
    if not (MIN_SCALE <= scale <= MAX_SCALE) or not math.isfinite(scale):
        raise ValueError(f"scale must be between {MIN_SCALE} and {MAX_SCALE}")
    stage = data["stageSize"]
    width = max(1, round(float(stage["width"]) * scale))
    height = max(1, round(float(stage["height"]) * scale))
    if width * height > MAX_OUTPUT_PIXELS:
        raise ValueError(f"{width}×{height} is more than {MAX_OUTPUT_PIXELS:,} pixels")
    return width, height


def _background(background: Image.Image | None, size: tuple[int, int]) -> Image.Image:
    """The background as an opaque RGB image of exactly ``size`` (white when there is none)."""
    if background is None:
        return Image.new("RGB", size, WHITE)
    image = background
    if image.getexif().get(0x0112, 1) != 1:  # phone photos: browsers honour the orientation
        image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")  # transparent parts show the white page, as in the editor
        image = Image.new("RGB", rgba.size, WHITE)
        image.paste(rgba, mask=rgba.getchannel("A"))
    elif image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):  # 16-bit scans: scale, not clip
        image = image.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    elif image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image.convert("RGB") if image.mode != "RGB" or image is background else image


def _composite(out: Image.Image, layer: Image.Image, ss: int) -> None:
    """Reduce the painted part of the layer to output size and lay it over the background."""
    bbox = layer.getbbox()
    if bbox is None:
        return
    if ss == 1:
        region = layer.crop(bbox)
        out.paste(region, bbox[:2], region)
        return
    # Only the painted region (plus the filter's reach) is reduced: most drawings are sparse.
    left = max(0, (bbox[0] - _CROP_MARGIN) // ss * ss)
    top = max(0, (bbox[1] - _CROP_MARGIN) // ss * ss)
    right = min(layer.width, -(-(bbox[2] + _CROP_MARGIN) // ss) * ss)
    bottom = min(layer.height, -(-(bbox[3] + _CROP_MARGIN) // ss) * ss)
    region = layer.crop((left, top, right, bottom)).resize(
        ((right - left) // ss, (bottom - top) // ss), Image.Resampling.LANCZOS
    )
    out.paste(region, (left // ss, top // ss), region)
