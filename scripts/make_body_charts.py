#!/usr/bin/env python3
"""Draw the built-in body-chart backgrounds into ``assets/body_charts/``.

The outlines are the project's own drawing (dedicated to the public domain under CC0-1.0, see
``assets/body_charts/LICENSE.md``). The script is deterministic: run it again to regenerate the
PNG files and ``templates.json``::

    .venv/bin/python scripts/make_body_charts.py

Every shape is drawn at ``SS`` times the final size and downsampled with LANCZOS, so the lines
come out anti-aliased. Coordinates in this file are in final-image pixels unless a function says
otherwise (the hand and foot shapes are in centimetres, the teeth in millimetres).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

Point = tuple[float, float]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

# ---- constants -------------------------------------------------------------------------------

OUT_DIR = Path(__file__).resolve().parent.parent / "assets" / "body_charts"
SS = 4  # supersampling factor
BACKGROUND = (255, 255, 255)
OUTLINE = "#4a5563"
LABEL = "#6b7280"
LINE_W = 3.0  # outline width, final pixels
DETAIL_W = 2.0  # inner details (creases, features, fissures)
SNAP_TO_WHITE = 250  # channel values from here up become pure white (smaller, cleaner PNGs)
FONT_PATH = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SIDE_LABEL_SIZE = 30  # the big "R" / "L" markers
CAPTION_SIZE = 16
NUMBER_SIZE = 16  # tooth numbers

BODY_SIZE = (600, 1000)
HEAD_SIZE = (900, 600)
HANDS_SIZE = (900, 600)
FEET_SIZE = (900, 600)
TEETH_SIZE = (1000, 600)

TEMPLATES: list[tuple[str, str, str, tuple[int, int]]] = [
    ("body_front", "Body — front", "body_front.png", BODY_SIZE),
    ("body_back", "Body — back", "body_back.png", BODY_SIZE),
    ("head", "Head and neck", "head.png", HEAD_SIZE),
    ("hands", "Hands — palms", "hands.png", HANDS_SIZE),
    ("feet", "Feet — soles", "feet.png", FEET_SIZE),
    ("teeth", "Teeth (FDI)", "teeth.png", TEETH_SIZE),
]


# ---- geometry helpers ------------------------------------------------------------------------


def cubic_bezier(p0: Point, p1: Point, p2: Point, p3: Point, steps: int = 16) -> list[Point]:
    """Sample a cubic Bezier curve into ``steps + 1`` points (both ends included)."""
    points: list[Point] = []
    for i in range(steps + 1):
        t = i / steps
        u = 1.0 - t
        a, b, c, d = u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t
        points.append(
            (
                a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0],
                a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1],
            )
        )
    return points


def smooth(points: Sequence[Point], closed: bool = False) -> list[Point]:
    """A smooth curve through ``points`` (Catmull-Rom, drawn as cubic Bezier segments)."""
    n = len(points)
    if n < 3:
        return list(points)
    out: list[Point] = []
    for i in range(n if closed else n - 1):
        if closed:
            p0, p1, p2, p3 = (points[(i + k) % n] for k in (-1, 0, 1, 2))
        else:
            p0, p1 = points[max(i - 1, 0)], points[i]
            p2, p3 = points[i + 1], points[min(i + 2, n - 1)]
        c1 = (p1[0] + (p2[0] - p0[0]) / 6, p1[1] + (p2[1] - p0[1]) / 6)
        c2 = (p2[0] - (p3[0] - p1[0]) / 6, p2[1] - (p3[1] - p1[1]) / 6)
        steps = max(6, math.ceil(math.dist(p1, p2) / 1.5))
        segment = cubic_bezier(p1, c1, c2, p2, steps)
        out.extend(segment if not out else segment[1:])
    if closed:
        out.pop()  # the last point repeats the first
    return out


def join(*runs: Sequence[Point]) -> list[Point]:
    """Concatenate runs of points into one path (a shared end point is kept once)."""
    out: list[Point] = []
    for run in runs:
        for point in run:
            if not out or math.dist(out[-1], point) > 1e-6:
                out.append(point)
    return out


def mirror(points: Sequence[Point], axis_x: float = 0.0) -> list[Point]:
    """Reflect points in the vertical line ``x = axis_x``."""
    return [(2 * axis_x - x, y) for x, y in points]


def place(
    points: Sequence[Point],
    origin: Point,
    scale: float = 1.0,
    angle: float = 0.0,
    flip_x: bool = False,
) -> list[Point]:
    """Scale, optionally mirror, rotate (degrees, clockwise on screen) and move local points."""
    cos_a, sin_a = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    out: list[Point] = []
    for x, y in points:
        x, y = (-x if flip_x else x) * scale, y * scale
        out.append((origin[0] + x * cos_a - y * sin_a, origin[1] + x * sin_a + y * cos_a))
    return out


def shift(points: Sequence[Point], dx: float, dy: float = 0.0) -> list[Point]:
    return [(x + dx, y + dy) for x, y in points]


# ---- drawing surface -------------------------------------------------------------------------


@cache
def font(size: int) -> Font:
    """DejaVu Sans at ``size`` final pixels (drawn supersampled); Pillow's default as fallback."""
    try:
        return ImageFont.truetype(FONT_PATH, size * SS)
    except OSError:
        return ImageFont.load_default(size * SS)


class Canvas:
    """A supersampled RGB drawing surface with the chart style baked in."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size
        self.image = Image.new("RGB", (size[0] * SS, size[1] * SS), BACKGROUND)
        self.draw = ImageDraw.Draw(self.image)

    def stroke(
        self,
        points: Sequence[Point],
        width: float = LINE_W,
        closed: bool = False,
        fill: bool = False,
    ) -> None:
        """Draw a polyline with round joins and caps; ``fill`` paints the inside white first."""
        pts = [(x * SS, y * SS) for x, y in points]
        w = max(1, round(width * SS))
        if fill:
            self.draw.polygon(pts, fill=BACKGROUND)
        if closed:
            pts = [*pts, pts[0], pts[1]]
        self.draw.line(pts, fill=OUTLINE, width=w, joint="curve")
        if not closed:
            r = w / 2
            for x, y in (pts[0], pts[-1]):
                self.draw.ellipse((x - r, y - r, x + r, y + r), fill=OUTLINE)

    def detail(self, points: Sequence[Point], closed: bool = False) -> None:
        self.stroke(points, DETAIL_W, closed)

    def ellipse(
        self, center: Point, rx: float, ry: float, width: float = LINE_W, fill: bool = True
    ) -> None:
        x, y = center
        box = ((x - rx) * SS, (y - ry) * SS, (x + rx) * SS, (y + ry) * SS)
        self.draw.ellipse(
            box, outline=OUTLINE, width=round(width * SS), fill=BACKGROUND if fill else None
        )

    def text(self, at: Point, text: str, size: int = CAPTION_SIZE) -> None:
        """Centred label text."""
        self.draw.text((at[0] * SS, at[1] * SS), text, fill=LABEL, font=font(size), anchor="mm")

    def save(self, name: str) -> Path:
        path = OUT_DIR / name
        small = self.image.resize(self.size, Image.Resampling.LANCZOS)
        # LANCZOS leaves a faint near-white ringing around lines: snap it to the background
        snap = [255 if v >= SNAP_TO_WHITE else v for v in range(256)] * 3
        small.point(snap).save(path, optimize=True)
        return path


# ---- full body -------------------------------------------------------------------------------

BODY_CX = 300  # midline
ARM_SLOPE = 0.25  # horizontal drift of the arm axis per pixel down (about 14 degrees)
SHOULDER = (84.0, 205.0)  # shoulder joint, offset from the midline
WRIST_Y = 486.0


def arm_x(y: float) -> float:
    """x offset of the (right-half) arm axis at height ``y``."""
    return SHOULDER[0] + (y - SHOULDER[1]) * ARM_SLOPE


def body_hand() -> list[Point]:
    """Small hand for the full-body views: wrist at the origin, fingers down, thumb towards +x.

    Runs from the thumb side of the wrist round the fingers to the little-finger side.
    """
    thumb = smooth(
        [
            (13, 0),
            (17.5, 9),
            (23, 18),
            (27, 29),
            (29, 40),
            (28.5, 49.5),
            (25, 54),
            (21.5, 51),
            (20.5, 42),
            (18.5, 32),
            (15.5, 26),
        ]
    )
    fingers = smooth(
        [
            (15.5, 26),
            (15.3, 40),
            (16.5, 56),
            (14.5, 70),
            (8, 80),
            (0, 84),
            (-8, 81.5),
            (-14, 73),
            (-17.5, 58),
            (-18, 40),
            (-16.5, 20),
            (-13, 0),
        ]
    )
    return join(thumb, fingers)


def body_hand_details() -> list[list[Point]]:
    """Short lines between the fingers of :func:`body_hand` (same local frame)."""
    return [
        smooth([(9.0, 79), (9.0, 70), (8.5, 62)]),
        smooth([(0.5, 84), (0.5, 74), (0.5, 64)]),
        smooth([(-8.0, 81.5), (-8.5, 72), (-9.0, 63)]),
    ]


def body_half(back: bool) -> list[Point]:
    """Right half (viewer's right) of the body silhouette, from inside the head to the crotch.

    x is the offset from the midline. The path runs down the outside of the arm, round the
    hand, up the inside of the arm to the armpit, down the flank and the outside of the leg,
    round the foot and up the inside of the leg.
    """
    angle = -math.degrees(math.atan(ARM_SLOPE))
    wrist = (arm_x(WRIST_Y), WRIST_Y)
    hand = place(body_hand(), wrist, angle=angle)

    def outer(y: float, half_width: float) -> Point:
        return (arm_x(y) + half_width * 1.03, y)

    def inner(y: float, half_width: float) -> Point:
        return (arm_x(y) - half_width * 1.03, y)

    shoulder_and_arm = smooth(
        [
            (21, 128),
            (22, 158),
            (27, 173),
            (58, 185),
            (92, 197),
            (110, 216),
            outer(245, 22.5),
            outer(300, 19.5),
            outer(350, 17),
            outer(385, 17.5),
            outer(420, 17),
            outer(462, 14),
            hand[0],
        ]
    )
    inner_arm = smooth(
        [
            hand[-1],
            inner(462, 13),
            inner(420, 16.5),
            inner(380, 16),
            inner(340, 17.5),
            inner(300, 18.5),
            (84, 264),
        ]
    )
    if back:  # heel, with the outer edge of the foot showing beyond it
        foot = smooth(
            [
                (50, 878),
                (52, 898),
                (56, 916),
                (58, 931),
                (52, 940),
                (41, 945),
                (29, 944),
                (20, 935),
                (17, 914),
                (18, 893),
            ]
        )
    else:  # foot seen from the front, toes pointing slightly outwards
        foot = smooth(
            [
                (50, 878),
                (53, 896),
                (57, 912),
                (62, 927),
                (61, 938),
                (50, 944),
                (32, 947),
                (18, 946),
                (10, 940),
                (11, 928),
                (15, 911),
                (18, 893),
            ]
        )
    flank_and_leg = smooth(
        [
            (84, 264),
            (81, 290),
            (73, 325),
            (64, 362),
            (66, 398),
            (75, 435),
            (80, 470),
            (79, 510),
            (73, 570),
            (66, 630),
            (60, 690),
            (62, 730),
            (66, 770),
            (61, 820),
            (52, 858),
            foot[0],
        ]
    )
    inner_leg = smooth(
        [
            foot[-1],
            (19, 872),
            (17, 840),
            (11, 790),
            (11, 745),
            (14, 700),
            (11, 650),
            (7, 580),
            (3, 520),
            (0, 498),
        ]
    )
    return join(shoulder_and_arm, hand, inner_arm, flank_and_leg, foot, inner_leg)


def body_head() -> list[Point]:
    right = [(0, 40), (27, 45), (39, 62), (42, 88), (40, 112), (33, 133), (19, 148), (0, 153)]
    return smooth(right + mirror(right[-2:0:-1]), closed=True)


def body_ear() -> list[Point]:
    return smooth([(37, 86), (44, 85), (48, 95), (46, 110), (39, 118)])


def draw_body(back: bool) -> Canvas:
    canvas = Canvas(BODY_SIZE)
    right = body_half(back)
    silhouette = join(right, mirror(right)[::-1])
    canvas.stroke(shift(silhouette, BODY_CX))
    for side in (1, -1):
        ear = body_ear() if side == 1 else mirror(body_ear())
        canvas.stroke(shift(ear, BODY_CX), fill=True)
    canvas.stroke(shift(body_head(), BODY_CX), closed=True, fill=True)

    angle = -math.degrees(math.atan(ARM_SLOPE))
    wrist = (arm_x(WRIST_Y), WRIST_Y)
    for side in (1, -1):
        lines: list[list[Point]] = [place(p, wrist, angle=angle) for p in body_hand_details()]
        if back:
            lines += [
                # shoulder blade and the spine of the scapula
                smooth([(24, 212), (23, 250), (38, 292), (58, 255), (70, 218)]),
                smooth([(27, 226), (52, 215), (82, 207)]),
                # gluteal fold and the crease behind the knee
                smooth([(5, 503), (28, 512), (50, 510), (64, 500)]),
                smooth([(26, 708), (37, 711), (48, 708)]),
                # heel
                smooth([(27, 918), (29, 930), (36, 936), (43, 930), (45, 918)]),
                # elbow point
                smooth([(arm_x(372) - 6, 368), (arm_x(372), 374), (arm_x(372) + 6, 372)]),
            ]
        else:
            lines += [
                # collarbone, groin, knee, toes
                smooth([(9, 181), (30, 182), (52, 188)]),
                smooth([(60, 448), (38, 470), (14, 488)]),
                smooth([(28, 712), (37, 716), (46, 712)]),
                [(23, 946), (23, 939)],
                [(33, 946.5), (33.5, 940)],
                [(42, 945.5), (43, 939)],
                [(51, 943.5), (52, 937.5)],
            ]
        for line in lines:
            canvas.detail(shift(line if side == 1 else mirror(line), BODY_CX))
    if back:
        canvas.detail(shift([(0, 180), (0, 420)], BODY_CX))  # spine
        canvas.detail(shift([(0, 452), (0, 494)], BODY_CX))  # cleft between the buttocks
    else:
        nose = smooth([(-1, 101), (-3, 114), (2, 116)])
        mouth = smooth([(-8, 132), (0, 133), (8, 132)])
        canvas.detail(shift(nose, BODY_CX))
        canvas.detail(shift(mouth, BODY_CX))
        for x in (-15, 15):
            canvas.ellipse((BODY_CX + x, 95), 4, 2.2, width=DETAIL_W, fill=False)
        for x in (-38, 38):
            canvas.ellipse((BODY_CX + x, 266), 2.5, 2.5, width=DETAIL_W)
        canvas.ellipse((BODY_CX, 372), 3, 4, width=DETAIL_W)

    # patient's right is on the viewer's left from the front, on the viewer's right from behind
    left_label, right_label = ("L", "R") if back else ("R", "L")
    canvas.text((48, 640), left_label, SIDE_LABEL_SIZE)
    canvas.text((BODY_SIZE[0] - 48, 640), right_label, SIDE_LABEL_SIZE)
    canvas.text((BODY_CX, 978), "POSTERIOR" if back else "ANTERIOR")
    return canvas


# ---- head and neck ---------------------------------------------------------------------------

HEAD_FRONT_CX = 225
HEAD_SIDE_CX = 675


def head_front(canvas: Canvas) -> None:
    cx = HEAD_FRONT_CX
    right = [
        (0, 62),
        (58, 72),
        (93, 112),
        (104, 170),
        (104, 222),
        (98, 266),
        (86, 304),
        (62, 336),
        (30, 355),
        (0, 360),
    ]
    head = smooth(right + mirror(right[-2:0:-1]), closed=True)
    # neck and shoulders, starting inside the head outline
    neck_right = smooth(
        [(64, 320), (66, 380), (70, 455), (96, 490), (160, 515), (212, 545), (232, 600)]
    )
    for side in (1, -1):
        neck = neck_right if side == 1 else mirror(neck_right)
        canvas.stroke(shift(neck, cx))
    # ears first: the head, filled white, hides their inner ends
    ear = smooth([(100, 205), (113, 195), (124, 208), (122, 240), (112, 262), (99, 270)])
    canvas.stroke(shift(ear, cx), fill=True)
    canvas.stroke(shift(mirror(ear), cx), fill=True)
    canvas.stroke(shift(head, cx), closed=True, fill=True)

    def both(points: list[Point]) -> None:
        canvas.detail(shift(points, cx))
        canvas.detail(shift(mirror(points), cx))

    both(smooth([(106, 212), (114, 208), (116, 226), (110, 246)]))  # inside of the ears

    # eyes, irises, brows
    eye_top = smooth([(24, 212), (44, 202), (68, 211)])
    eye_bottom = smooth([(24, 212), (46, 220), (68, 211)])
    both(eye_top)
    both(eye_bottom)
    for x in (-46, 46):
        canvas.ellipse((cx + x, 211), 7, 7, width=DETAIL_W, fill=False)
    both(smooth([(20, 190), (44, 180), (74, 188)]))
    # nose
    both(smooth([(12, 240), (14, 256), (20, 270)]))
    canvas.detail(shift(smooth([(-20, 272), (-12, 283), (0, 286), (12, 283), (20, 272)]), cx))
    # mouth
    canvas.detail(shift(smooth([(-32, 316), (-12, 312), (0, 314), (12, 312), (32, 316)]), cx))
    canvas.detail(shift(smooth([(-18, 328), (0, 333), (18, 328)]), cx))
    # collarbones and the front of the neck
    both(smooth([(16, 520), (60, 515), (120, 528)]))
    both(smooth([(66, 372), (52, 440), (24, 506)]))

    canvas.text((cx - 190, 250), "R", SIDE_LABEL_SIZE)
    canvas.text((cx + 190, 250), "L", SIDE_LABEL_SIZE)
    canvas.text((cx, 28), "FRONT")


def head_side(canvas: Canvas) -> None:
    """Left-side profile: the face looks towards the viewer's left."""
    outline = smooth(
        [
            (632, 600),
            (640, 540),
            (650, 470),
            (646, 398),
            (626, 381),
            (592, 375),
            (572, 365),
            (558, 353),
            (562, 339),
            (554, 333),
            (551, 325),
            (557, 316),
            (550, 307),
            (555, 297),
            (558, 291),
            (547, 287),
            (535, 282),
            (532, 271),
            (542, 254),
            (555, 230),
            (565, 207),
            (560, 189),
            (563, 160),
            (574, 120),
            (600, 84),
            (640, 64),
            (690, 59),
            (760, 72),
            (806, 118),
            (820, 188),
            (812, 250),
            (792, 300),
            (768, 345),
            (760, 410),
            (776, 500),
            (820, 560),
            (858, 600),
        ]
    )
    canvas.stroke(outline)
    ear = smooth(
        [(690, 210), (702, 194), (724, 196), (734, 222), (730, 254), (716, 278), (700, 284)]
    )
    canvas.stroke(ear)
    canvas.detail(smooth([(700, 218), (712, 208), (722, 222), (716, 246), (705, 258)]))
    canvas.detail(smooth([(573, 206), (586, 204), (598, 212)]))  # eye, seen from the side
    canvas.detail(smooth([(576, 219), (588, 219), (598, 212)]))
    canvas.detail(smooth([(578, 207), (581.5, 212.5), (579, 218)]))
    canvas.detail(smooth([(566, 190), (590, 184), (612, 190)]))
    canvas.detail(smooth([(546, 279), (553, 272), (562, 276), (560, 284)]))
    canvas.detail(smooth([(557, 316), (572, 317)]))
    canvas.detail(smooth([(700, 288), (698, 328), (674, 354), (630, 372)]))

    canvas.text((HEAD_SIDE_CX, 28), "LEFT SIDE")


def draw_head() -> Canvas:
    canvas = Canvas(HEAD_SIZE)
    head_front(canvas)
    head_side(canvas)
    return canvas


# ---- hands (centimetres, right hand, palm towards the viewer, fingers up) --------------------

HAND_SCALE = 25.0  # pixels per centimetre
HAND_WRIST_Y = 532.0
# (base centre, tilt in degrees towards the thumb, length from the web, width at the base)
FINGERS: list[tuple[Point, float, float, float]] = [
    ((-3.05, -9.0), -20.0, 5.6, 1.65),  # little
    ((-1.15, -10.1), -7.0, 7.0, 1.8),  # ring
    ((0.8, -10.6), 3.0, 7.6, 1.95),  # middle
    ((2.75, -10.0), 14.0, 6.9, 1.9),  # index
]
THUMB: tuple[Point, float, float, float] = ((5.3, -5.8), 40.0, 5.4, 2.5)


def digit(base: Point, tilt: float, length: float, width: float) -> list[Point]:
    """One finger or toe: up the little-finger side, round the tip, down the thumb side."""
    return smooth(digit_points(base, tilt, length, width))


def digit_points(base: Point, tilt: float, length: float, width: float) -> list[Point]:
    """Key points of :func:`digit`: two on each side and the rim of the tip."""
    a = math.radians(tilt)
    d = (math.sin(a), -math.cos(a))  # along the digit, towards the tip
    p = (math.cos(a), math.sin(a))  # across, towards the thumb side
    tip_w = width * 0.86
    tip = (base[0] + d[0] * (length - tip_w / 2), base[1] + d[1] * (length - tip_w / 2))
    left = [
        (base[0] - p[0] * width / 2, base[1] - p[1] * width / 2),
        (
            base[0] + d[0] * length * 0.5 - p[0] * width * 0.47,
            base[1] + d[1] * length * 0.5 - p[1] * width * 0.47,
        ),
    ]
    rim = []
    for i in range(1, 24):
        t = math.pi * i / 24
        c, s = -math.cos(t), math.sin(t)
        rim.append(
            (
                tip[0] + (p[0] * c + d[0] * s) * tip_w / 2,
                tip[1] + (p[1] * c + d[1] * s) * tip_w / 2,
            )
        )
    right = [(x + p[0] * width * 0.94, y + p[1] * width * 0.94) for x, y in left[::-1]]
    return [*left, *rim, *right]


def web(
    end_a: Point, dir_a: Point, end_b: Point, dir_b: Point, depth: float, depth_b: float = -1.0
) -> list[Point]:
    """A rounded web between two digits: leaves ``end_a`` along ``dir_a``, reaches ``end_b``
    coming back against ``dir_b``."""
    depth_b = depth if depth_b < 0 else depth_b
    return cubic_bezier(
        end_a,
        (end_a[0] + dir_a[0] * depth, end_a[1] + dir_a[1] * depth),
        (end_b[0] + dir_b[0] * depth_b, end_b[1] + dir_b[1] * depth_b),
        end_b,
        16,
    )


def down(tilt: float) -> Point:
    """Unit vector from a digit's tip towards its base."""
    a = math.radians(tilt)
    return (-math.sin(a), math.cos(a))


def hand_outline() -> list[Point]:
    """Right hand, palm view: from the forearm on the little-finger side round to the thumb side."""
    points = [digit_points(*f) for f in FINGERS]
    digits = [smooth(p) for p in points]
    # the edge of the palm runs on into the little finger
    digits[0] = smooth([(-2.95, 0.0), (-3.9, -3.0), (-4.35, -6.3), *points[0]])
    thumb = digit_points(*THUMB)
    runs: list[Sequence[Point]] = [[(-3.1, 3.5), (-2.95, 0.0)]]
    for i, current in enumerate(digits):
        runs.append(current)
        if i + 1 < len(digits):
            nxt = digits[i + 1]
            runs.append(web(current[-1], down(FINGERS[i][1]), nxt[0], down(FINGERS[i + 1][1]), 0.7))
    runs.append(
        web(digits[-1][-1], down(FINGERS[-1][1]), thumb[0], down(THUMB[1]), 1.5, 1.0)
    )  # the first web, between index finger and thumb
    # the outer side of the thumb runs on into the ball of the thumb and the wrist
    runs.append(smooth([*thumb, (5.75, -3.2), (5.1, -1.6), (4.0, -0.5), (2.95, 0.0)]))
    runs.append([(2.95, 0.0), (3.1, 3.5)])
    return join(*runs)


def digit_creases(base: Point, tilt: float, length: float, width: float) -> list[list[Point]]:
    """The flexion creases across a finger (base, middle and end joints)."""
    a = math.radians(tilt)
    d = (math.sin(a), -math.cos(a))
    p = (math.cos(a), math.sin(a))
    out: list[list[Point]] = []
    for frac in (0.04, 0.45, 0.72):
        c = (base[0] + d[0] * length * frac, base[1] + d[1] * length * frac)
        half = width * 0.3
        out.append(
            [(c[0] - p[0] * half, c[1] - p[1] * half), (c[0] + p[0] * half, c[1] + p[1] * half)]
        )
    return out


def hand_creases() -> list[list[Point]]:
    """Palm and finger creases of the right hand (same frame as :func:`hand_outline`)."""
    lines = [
        smooth([(3.55, -7.3), (2.3, -5.8), (1.7, -3.5), (1.5, -0.9)]),  # thenar
        smooth([(3.55, -7.3), (1.2, -7.3), (-1.4, -6.7), (-3.4, -5.7)]),  # proximal transverse
        smooth([(-3.95, -7.9), (-2.3, -8.4), (-0.2, -8.8), (1.8, -9.5)]),  # distal transverse
        smooth([(-2.2, -0.3), (0.0, -0.1), (2.2, -0.3)]),  # wrist
    ]
    for f in FINGERS:
        lines += digit_creases(*f)
    lines += digit_creases(*THUMB)[1:2]
    return lines


def draw_hands() -> Canvas:
    canvas = Canvas(HANDS_SIZE)
    # the patient's right hand on the viewer's left, as when the patient faces the viewer
    outline = hand_outline()
    xs = [x for x, y in outline if y < 0]
    mid = (min(xs) + max(xs)) / 2  # centre each hand in its half of the image
    for centre, flip in ((225.0, False), (675.0, True)):
        origin = (centre + (mid if flip else -mid) * HAND_SCALE, HAND_WRIST_Y)
        canvas.stroke(place(outline, origin, HAND_SCALE, flip_x=flip))
        for line in hand_creases():
            canvas.detail(place(line, origin, HAND_SCALE, flip_x=flip))
    canvas.text((50, 50), "R", SIDE_LABEL_SIZE)
    canvas.text((850, 50), "L", SIDE_LABEL_SIZE)
    canvas.text((450, 28), "PALMAR VIEW")
    return canvas


# ---- feet (centimetres, right sole, heel at the origin, toes up, big toe towards -x) --------

FOOT_SCALE = 20.0
# (base centre, tilt towards the little toe, length from the web, width at the base)
TOES: list[tuple[Point, float, float, float]] = [
    ((-2.8, -20.0), -4.0, 4.3, 3.3),  # big toe
    ((-0.4, -20.6), 3.0, 3.1, 2.1),
    ((1.5, -20.2), 8.0, 2.8, 1.95),
    ((3.15, -19.5), 14.0, 2.5, 1.85),
    ((4.6, -18.5), 22.0, 2.2, 1.75),  # little toe
]


def foot_outline() -> list[Point]:
    """Right sole, closed: from the little toe down the outer edge, round the heel, up the arch."""
    toes = [digit(*t) for t in TOES]
    runs: list[Sequence[Point]] = [
        smooth(
            [
                toes[-1][-1],
                (5.1, -16.5),
                (4.5, -13.0),
                (3.8, -9.0),
                (3.5, -4.5),
                (3.0, -1.6),
                (1.5, -0.1),
                (0.0, 0.2),
                (-1.6, -0.1),
                (-2.9, -1.8),
                (-3.1, -5.0),
                (-2.6, -8.8),
                (-3.0, -12.2),
                (-3.9, -15.5),
                (-4.5, -17.8),
                toes[0][0],
            ]
        )
    ]
    for i, current in enumerate(toes):
        runs.append(current)
        if i + 1 < len(toes):
            nxt = toes[i + 1]
            runs.append(web(current[-1], down(TOES[i][1]), nxt[0], down(TOES[i + 1][1]), 0.5))
    return join(*runs)


def foot_creases() -> list[list[Point]]:
    return [
        smooth([(-4.3, -19.2), (-2.0, -19.4), (0.5, -19.6), (2.8, -18.9), (4.8, -17.8)]),
        digit_creases(*TOES[0])[1],
    ]


def draw_feet() -> Canvas:
    canvas = Canvas(FEET_SIZE)
    # plantar view as seen from behind the patient: left sole on the left, big toes inwards
    for origin, flip in (((225.0, 566.0), True), ((675.0, 566.0), False)):
        canvas.stroke(place(foot_outline(), origin, FOOT_SCALE, flip_x=flip), closed=True)
        for line in foot_creases():
            canvas.detail(place(line, origin, FOOT_SCALE, flip_x=flip))
    canvas.text((50, 50), "L", SIDE_LABEL_SIZE)
    canvas.text((850, 50), "R", SIDE_LABEL_SIZE)
    canvas.text((450, 28), "PLANTAR VIEW (SOLES)")
    return canvas


# ---- teeth (millimetres, along a parabolic arch) ---------------------------------------------

TOOTH_GAP = 1.2  # mm between neighbouring teeth
ARCH_CX = 500
ARCH_A = 320.0  # half-width of each (parabolic) arch at its ends, pixels
ARCH_B = 190.0  # depth of each arch, pixels
UPPER_Y = 268.0  # the ends of the upper arch
LOWER_Y = 332.0  # the ends of the lower arch
# (mesiodistal width, buccolingual width, kind) from the central incisor backwards
UPPER_TEETH: list[tuple[float, float, str]] = [
    (8.5, 7.0, "incisor"),
    (6.5, 6.2, "incisor"),
    (7.6, 8.0, "canine"),
    (7.0, 9.0, "premolar"),
    (6.6, 9.0, "premolar"),
    (10.0, 11.0, "molar"),
    (9.0, 10.8, "molar"),
    (8.5, 10.0, "molar"),
]
LOWER_TEETH: list[tuple[float, float, str]] = [
    (5.4, 6.0, "incisor"),
    (5.9, 6.2, "incisor"),
    (7.0, 7.6, "canine"),
    (7.0, 7.8, "premolar"),
    (7.1, 8.2, "premolar"),
    (11.0, 10.4, "molar"),
    (10.4, 10.0, "molar"),
    (10.0, 9.6, "molar"),
]


def arch_points(lower: bool) -> list[Point]:
    """The arch line (a parabola) from the midline out to the patient's right (viewer's left)."""
    out: list[Point] = []
    for i in range(2001):
        d = i / 2000
        depth = ARCH_B * (1 - d * d)
        out.append((ARCH_CX - ARCH_A * d, LOWER_Y + depth if lower else UPPER_Y - depth))
    return out


def path_length(path: Sequence[Point]) -> float:
    return sum(math.dist(a, b) for a, b in zip(path, path[1:], strict=False))


def tooth_scale() -> float:
    """Pixels per millimetre so that the longer half-arch of teeth fills its arch line."""
    needed = max(
        sum(md for md, _, _ in teeth) + TOOTH_GAP * len(teeth)
        for teeth in (UPPER_TEETH, LOWER_TEETH)
    )
    return path_length(arch_points(False)) / needed


def along(path: Sequence[Point], distance: float) -> tuple[Point, Point]:
    """The point ``distance`` along ``path`` and the unit tangent there."""
    walked = 0.0
    for a, b in zip(path, path[1:], strict=False):
        step = math.dist(a, b)
        if walked + step >= distance:
            t = (distance - walked) / step
            tangent = ((b[0] - a[0]) / step, (b[1] - a[1]) / step)
            return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t), tangent
        walked += step
    a, b = path[-2], path[-1]
    step = math.dist(a, b)
    return b, ((b[0] - a[0]) / step, (b[1] - a[1]) / step)


def superellipse(ru: float, rv: float, power: float, steps: int = 64) -> list[Point]:
    out: list[Point] = []
    for i in range(steps):
        t = 2 * math.pi * i / steps
        c, s = math.cos(t), math.sin(t)
        out.append(
            (
                ru * math.copysign(abs(c) ** (2 / power), c),
                rv * math.copysign(abs(s) ** (2 / power), s),
            )
        )
    return out


def tooth_shape(kind: str, ru: float, rv: float) -> tuple[list[Point], list[list[Point]]]:
    """Occlusal outline and fissure lines; u runs along the arch, v points out of the mouth."""
    if kind == "molar":
        outline = superellipse(ru, rv, 2.8)
        lines = [
            [(-ru * 0.5, 0.0), (ru * 0.5, 0.0)],
            smooth([(0.0, -rv * 0.55), (ru * 0.08, 0.0), (0.0, rv * 0.55)]),
        ]
    elif kind == "premolar":
        outline = superellipse(ru, rv, 2.3)
        lines = [smooth([(-ru * 0.6, 0.0), (0.0, rv * 0.1), (ru * 0.6, 0.0)])]
    elif kind == "canine":
        outline = superellipse(ru, rv, 1.8)
        tip = superellipse(ru * 0.16, ru * 0.16, 2.0, 16)  # the single cusp, as a small ring
        lines = [[*tip, tip[0]]]
    else:
        outline = superellipse(ru, rv, 2.4)
        lines = [[(-ru * 0.6, rv * 0.25), (ru * 0.6, rv * 0.25)]]
    return outline, lines


def to_frame(points: Sequence[Point], origin: Point, u_axis: Point, v_axis: Point) -> list[Point]:
    """Map local (u, v) points to the image, given the image directions of the u and v axes."""
    return [
        (origin[0] + u * u_axis[0] + v * v_axis[0], origin[1] + u * u_axis[1] + v * v_axis[1])
        for u, v in points
    ]


def draw_arch(canvas: Canvas, lower: bool) -> None:
    path = arch_points(lower)
    scale = tooth_scale()
    quadrants = (4, 3) if lower else (1, 2)
    teeth = LOWER_TEETH if lower else UPPER_TEETH
    for quadrant, side in zip(quadrants, (1, -1), strict=True):
        distance = TOOTH_GAP * scale / 2
        for number, (md, bl, kind) in enumerate(teeth, start=1):
            ru, rv = md * scale / 2, bl * scale / 2
            distance += ru
            (x, y), (tx, ty) = along(path, distance)
            distance += ru + TOOTH_GAP * scale
            if side == -1:
                x, tx = 2 * ARCH_CX - x, -tx
            # outward normal: the tangent turned away from the inside of the arch
            nx, ny = (ty, -tx) if (side == 1) == lower else (-ty, tx)
            outline, lines = tooth_shape(kind, ru, rv)

            frame = ((x, y), (tx, ty), (nx, ny))
            canvas.stroke(to_frame(outline, *frame), closed=True)
            for line in lines:
                canvas.detail(to_frame(line, *frame))
            label_at = (x + nx * (rv + 17), y + ny * (rv + 17))
            canvas.text(label_at, f"{quadrant}{number}", NUMBER_SIZE)


def draw_teeth() -> Canvas:
    canvas = Canvas(TEETH_SIZE)
    draw_arch(canvas, lower=False)
    draw_arch(canvas, lower=True)
    canvas.text((ARCH_CX, 205), "UPPER")
    canvas.text((ARCH_CX, 395), "LOWER")
    canvas.text((40, 300), "R", SIDE_LABEL_SIZE)
    canvas.text((960, 300), "L", SIDE_LABEL_SIZE)
    return canvas


# ---- main ------------------------------------------------------------------------------------


def main() -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    charts = {
        "body_front": draw_body(back=False),
        "body_back": draw_body(back=True),
        "head": draw_head(),
        "hands": draw_hands(),
        "feet": draw_feet(),
        "teeth": draw_teeth(),
    }
    templates = []
    for key, title, filename, size in TEMPLATES:
        canvas = charts[key]
        assert canvas.size == size, key
        path = canvas.save(filename)
        templates.append(
            {"key": key, "title": title, "file": filename, "width": size[0], "height": size[1]}
        )
        print(f"{path.relative_to(OUT_DIR.parent.parent)}: {path.stat().st_size // 1024} KB")
    (OUT_DIR / "templates.json").write_text(
        json.dumps(templates, indent=2, ensure_ascii=False) + "\n"
    )


if __name__ == "__main__":
    main()
