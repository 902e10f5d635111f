"""Annotation drawings: the JSON schema and its messages, and the server-side PNG renderer."""

from __future__ import annotations

import copy
import io
import math
import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from jsonschema import Draft202012Validator
from PIL import Image

from clinic_app.errors import AppError
from clinic_app.services import drawing_render
from clinic_app.services.drawing import (
    DRAWING_SCHEMA,
    canonical_json,
    empty_drawing,
    has_shape,
    validate_drawing,
)
from clinic_app.services.drawing_render import render_png, thumbnail_png

LIMIT = 2 * 1024 * 1024
RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)

SHAPES: dict[str, dict[str, Any]] = {
    "circle": {"id": "c1", "type": "circle", "x": 50, "y": 50, "radius": 20,
               "color": "#0000ff", "strokeWidth": 2},
    "rect": {"id": "r1", "type": "rect", "x": 120, "y": 20, "width": 40, "height": 30,
             "color": "#00aa00", "strokeWidth": 2},
    "arrow": {"id": "a1", "type": "arrow", "x": 10, "y": 10, "points": [0, 0, 50, 0],
              "color": "#000000", "strokeWidth": 2},
    "text": {"id": "t1", "type": "text", "x": 150, "y": 60, "text": "A", "color": "#ff00ff"},
}  # fmt: skip


def _pen(points: list[float], color: str = "#ff0000", width: float = 4) -> dict[str, Any]:
    return {"tool": "pen", "points": points, "color": color, "strokeWidth": width}


def _drawing(**changes: Any) -> dict[str, Any]:
    data = empty_drawing(200, 100)
    data.update(changes)
    return data


def _problems(data: object, *, max_bytes: int = LIMIT) -> AppError:
    with pytest.raises(AppError) as caught:
        validate_drawing(data, max_bytes=max_bytes)
    return caught.value


# --- schema: accepted -------------------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(DRAWING_SCHEMA)
    assert DRAWING_SCHEMA["$schema"].endswith("/2020-12/schema")


def test_empty_drawing_is_valid_and_complete() -> None:
    data = empty_drawing(800, 600)
    assert data == {
        "lines": [],
        "shapes": [],
        "stageSize": {"width": 800, "height": 600},
        "backgroundType": "none",
        "backgroundFileId": None,
        "pdfPageNumber": None,
        "pdfNumPages": None,
    }
    assert validate_drawing(data, max_bytes=LIMIT) == data
    assert not list(Draft202012Validator(DRAWING_SCHEMA).iter_errors(data))


def test_empty_drawing_refuses_a_bad_stage() -> None:
    with pytest.raises(AppError) as caught:
        empty_drawing(20, 600)
    assert "stageSize.width: must be ≥ 50" in caught.value.message


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_each_shape_type_is_accepted(kind: str) -> None:
    data = validate_drawing(_drawing(shapes=[SHAPES[kind]]), max_bytes=LIMIT)
    assert data["shapes"][0]["type"] == kind
    assert has_shape(data, kind)
    assert not any(has_shape(data, other) for other in SHAPES if other != kind)


def test_text_gets_the_editors_default_font_size() -> None:
    data = validate_drawing(_drawing(shapes=[SHAPES["text"]]), max_bytes=LIMIT)
    assert data["shapes"][0]["fontSize"] == 18
    assert "fontSize" not in SHAPES["text"]  # a copy is returned, the input is untouched


def test_template_and_pdf_backgrounds_are_accepted_and_optional_fields_default_to_null() -> None:
    template = {"lines": [], "shapes": [], "stageSize": {"width": 400, "height": 900},
                "backgroundType": "template", "backgroundFileId": "body_front"}  # fmt: skip
    checked = validate_drawing(template, max_bytes=LIMIT)
    assert checked["backgroundFileId"] == "body_front"
    assert checked["pdfPageNumber"] is None and checked["pdfNumPages"] is None
    pdf = {**template, "backgroundType": "pdf", "backgroundFileId": "9f1c2d3e-aaaa-4bbb-8ccc-0123",
           "pdfPageNumber": 3.0, "pdfNumPages": 3}  # fmt: skip
    assert validate_drawing(pdf, max_bytes=LIMIT)["pdfPageNumber"] == 3
    assert empty_drawing(400, 600, "pdf", "abc")["pdfPageNumber"] == 1


def test_has_shape_is_false_for_unknown_types_and_malformed_drawings() -> None:
    """As the PostgreSQL containment query: no match, no error."""
    data = _drawing(shapes=[SHAPES["circle"]])
    assert has_shape(data, "circle")
    assert not has_shape(data, "circel")
    assert not has_shape({"shapes": "nonsense"}, "circle")
    assert not has_shape({"shapes": [None, {"kind": "circle"}]}, "circle")
    assert not has_shape(None, "circle")


# --- schema: refused, with the problem named --------------------------------------------------


def _with_line(**changes: Any) -> dict[str, Any]:
    return _drawing(lines=[{**_pen([10, 50, 190, 50]), **changes}])


def _with_shape(kind: str, **changes: Any) -> dict[str, Any]:
    return _drawing(shapes=[{**SHAPES[kind], **changes}])


REFUSED: list[tuple[str, Callable[[], object], str]] = [
    ("bad colour", lambda: _with_line(color="red"),
     "lines[0].color: must be a colour like #1a7f37 (not 'red')"),
    ("short colour", lambda: _with_shape("rect", color="#fff"),
     "shapes[0].color: must be a colour"),
    ("colour with a newline", lambda: _with_line(color="#ff0000\n"),
     "lines[0].color: must be a colour like #1a7f37 (not '#ff0000\\n')"),
    ("file id with a newline",
     lambda: _drawing(backgroundType="template", backgroundFileId="body_front\n"),
     "backgroundFileId: must be a file id or template key"),
    ("odd points", lambda: _with_line(points=[1, 2, 3]),
     "lines[0].points: has an odd count of numbers (3); points come in x, y pairs"),
    ("unknown tool", lambda: _with_line(tool="brush"),
     "lines[0].tool: must be one of pen, eraser (not 'brush')"),
    ("extra property", lambda: _with_line(opacity=0.5), "lines[0].opacity: is not a known field"),
    ("extra top-level property", lambda: _drawing(zoom=2), "zoom: is not a known field"),
    ("extra stage property", lambda: _drawing(stageSize={"width": 90, "height": 90, "x": 0}),
     "stageSize.x: is not a known field"),
    ("field of another shape type", lambda: _with_shape("circle", text="x"),
     "shapes[0].text: a circle has no text"),
    ("missing radius", lambda: _drawing(shapes=[{k: v for k, v in SHAPES["circle"].items()
                                                 if k != "radius"}]),
     "shapes[0].radius: is missing"),
    ("negative radius", lambda: _with_shape("circle", radius=-1), "shapes[0].radius: must be ≥ 0"),
    ("thin stroke", lambda: _with_line(strokeWidth=0.1), "lines[0].strokeWidth: must be ≥ 0.5"),
    ("huge font", lambda: _with_shape("text", fontSize=500), "shapes[0].fontSize: must be ≤ 200"),
    ("far coordinate", lambda: _with_line(points=[0, 0, 100_001, 5]),
     "lines[0].points[2]: must be ≤ 100,000"),
    ("boolean coordinate", lambda: _with_line(points=[0, True]),
     "lines[0].points[1]: must be a number"),
    ("not finite", lambda: _with_line(points=[0, math.nan]),
     "lines[0].points[1]: must be a finite number (not nan)"),
    ("arrow points", lambda: _with_shape("arrow", points=[0, 0, 5]),
     "shapes[0].points: must have exactly 4 numbers (has 3)"),
    ("long text", lambda: _with_shape("text", text="x" * 501),
     "shapes[0].text: has 501 characters; the limit is 500"),
    ("empty id", lambda: _with_shape("rect", id=""), "shapes[0].id: must not be empty"),
    ("missing backgroundFileId for image", lambda: _drawing(backgroundType="image"),
     "backgroundFileId: is required for an image background"),
    ("null backgroundFileId for template",
     lambda: _drawing(backgroundType="template", backgroundFileId=None),
     "backgroundFileId: is required for a template background"),
    ("unsafe file id", lambda: _drawing(backgroundType="image", backgroundFileId="../../etc"),
     "backgroundFileId: must be a file id or template key"),
    ("pdf page out of range",
     lambda: _drawing(backgroundType="pdf", backgroundFileId="f1", pdfPageNumber=4, pdfNumPages=3),
     "pdfPageNumber: page 4 is past the last page (3)"),
    ("pdf page zero",
     lambda: _drawing(backgroundType="pdf", backgroundFileId="f1", pdfPageNumber=0, pdfNumPages=3),
     "pdfPageNumber: must be ≥ 1"),
    ("pdf without page", lambda: _drawing(backgroundType="pdf", backgroundFileId="f1"),
     "pdfPageNumber: is required for a pdf background"),
    ("fractional stage", lambda: _drawing(stageSize={"width": 812.5, "height": 600}),
     "stageSize.width: must be a whole number"),
    ("20,002 numbers in a line", lambda: _with_line(points=[1.5] * 20_002),
     "lines[0].points: has 20,002 numbers; the limit is 20,000"),
    ("5,001 lines", lambda: _drawing(lines=[_pen([1, 2, 3, 4])] * 5_001),
     "lines: has 5,001 lines; the limit is 5,000"),
    ("missing lines", lambda: {k: v for k, v in _drawing().items() if k != "lines"},
     "lines: is missing"),
    ("not an object", lambda: [1, 2], "drawing: must be an object"),
    ("not JSON", lambda: _drawing(shapes={1, 2}), "shapes: is not JSON (set)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mutate", "expected"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_refused_with_the_problem_and_its_path(mutate: Callable[[], object], expected: str) -> None:
    error = _problems(mutate())
    assert error.code == "DRAWING_INVALID"
    assert expected in error.message
    assert any(expected in problem for problem in error.details["problems"])


def test_message_names_the_first_three_problems_and_counts_the_rest() -> None:
    bad = _drawing(
        lines=[_pen([1, 2, 3], color="red", width=0)], shapes=[{**SHAPES["circle"], "radius": -5}]
    )
    error = _problems(bad)
    assert error.details["problems"] == [
        "lines[0].color: must be a colour like #1a7f37 (not 'red')",
        "lines[0].points: has an odd count of numbers (3); points come in x, y pairs",
        "lines[0].strokeWidth: must be ≥ 0.5",
        "shapes[0].radius: must be ≥ 0",
    ]
    assert error.message == (
        "The drawing could not be saved: lines[0].color: must be a colour like #1a7f37 "
        "(not 'red'); lines[0].points: has an odd count of numbers (3); points come in x, y "
        "pairs; lines[0].strokeWidth: must be ≥ 0.5; and 1 more problem."
    )


def test_fast_number_check_reports_what_plain_jsonschema_reports() -> None:
    """The validator's one-loop bounds check must not hide or invent a problem."""
    bad = _with_line(points=[0, 5, -10_001, 7, 3, 100_000.5, 8, "9"])
    plain = sorted(
        ".".join(map(str, e.absolute_path))
        for e in Draft202012Validator(DRAWING_SCHEMA).iter_errors(bad)
    )
    assert plain == ["lines.0.points.2", "lines.0.points.5", "lines.0.points.7"]
    assert _problems(bad).details["problems"] == [
        "lines[0].points[2]: must be ≥ -10,000",
        "lines[0].points[5]: must be ≤ 100,000",
        "lines[0].points[7]: must be a number",
    ]


def test_a_3_mb_drawing_is_refused_as_too_large_before_the_schema_runs() -> None:
    # Every line also has a bad colour: had the schema run first, this would be DRAWING_INVALID.
    line = {"tool": "pen", "points": [12345.678] * 19_700, "color": "red", "strokeWidth": 3}
    data = _drawing(lines=[line] * 16)
    size = len(canonical_json(data))
    assert 2.9 * 1024 * 1024 < size < 3.1 * 1024 * 1024
    started = time.perf_counter()
    error = _problems(data)
    elapsed = time.perf_counter() - started
    assert error.code == "DRAWING_TOO_LARGE"
    assert error.message.startswith("The drawing is 3 MB; the limit is 2 MB. ")
    assert error.details == {"size_bytes": size, "max_bytes": LIMIT}
    assert elapsed < 0.5, f"size check took {elapsed:.2f} s"


def test_size_limit_is_on_the_canonical_json() -> None:
    data = _drawing(lines=[_pen([10, 20, 30, 40])])
    size = len(canonical_json(data))
    assert validate_drawing(data, max_bytes=size)["lines"][0]["points"] == [10, 20, 30, 40]
    assert _problems(data, max_bytes=size - 1).code == "DRAWING_TOO_LARGE"


# --- rendering --------------------------------------------------------------------------------


def _render(data: dict[str, Any], background: Image.Image | None = None, **kw: Any) -> Image.Image:
    png = render_png(validate_drawing(data, max_bytes=LIMIT), background, **kw)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    assert image.mode == "RGB"
    return image


def _near(pixel: object, color: tuple[int, int, int], tolerance: int = 40) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], color, strict=True))


def _painted(pixel: object) -> bool:
    return not _near(pixel, WHITE, 60)


def test_pen_line() -> None:
    image = _render(_drawing(lines=[_pen([10, 50, 190, 50])]))
    assert image.size == (200, 100)
    assert _near(image.getpixel((100, 50)), RED)
    assert _near(image.getpixel((100, 45)), WHITE, 2)
    # Width 4 centred on y=50 covers rows 48..51; round caps reach x=8 and x=192.
    assert all(_near(image.getpixel((100, y)), RED) for y in (48, 49, 50, 51))
    assert all(_near(image.getpixel((100, y)), WHITE, 20) for y in (46, 53))
    assert _near(image.getpixel((9, 50)), RED) and _near(image.getpixel((190, 50)), RED)
    assert _near(image.getpixel((6, 50)), WHITE, 20) and _near(image.getpixel((193, 50)), WHITE, 20)


def test_circle_is_a_stroked_ring_not_a_disc() -> None:
    image = _render(_drawing(shapes=[SHAPES["circle"]]))
    for x, y in ((70, 50), (30, 50), (50, 30), (50, 70)):  # radius 20 from (50, 50)
        assert _painted(image.getpixel((x, y))), (x, y)
    assert _near(image.getpixel((50, 50)), WHITE, 2)
    assert _near(image.getpixel((66, 50)), WHITE, 20) and _near(image.getpixel((73, 50)), WHITE, 20)


def test_rect_is_a_stroked_outline() -> None:
    image = _render(_drawing(shapes=[SHAPES["rect"]]))  # x 120..160, y 20..50
    for x, y in ((120, 35), (159, 35), (140, 20), (140, 49)):
        assert _painted(image.getpixel((x, y))), (x, y)
    assert _near(image.getpixel((140, 35)), WHITE, 2)
    assert _painted(image.getpixel((120, 20)))  # mitred corner, not rounded off
    assert _near(image.getpixel((117, 35)), WHITE, 20) and _near(
        image.getpixel((162, 35)), WHITE, 20
    )


def test_arrow_has_a_filled_head_at_its_end() -> None:
    image = _render(_drawing(shapes=[SHAPES["arrow"]]))  # (10, 10) → (60, 10)
    assert _painted(image.getpixel((58, 10)))
    assert _painted(image.getpixel((30, 10)))  # the shaft
    assert _painted(image.getpixel((52, 13)))  # the head is 10 px wide at x=50 …
    assert _near(image.getpixel((30, 13)), WHITE, 20)  # … the shaft only 2
    assert _near(image.getpixel((65, 10)), WHITE, 20)  # nothing past the (mitred) tip
    assert _near(image.getpixel((7, 10)), WHITE, 20)  # butt cap at the start


def test_text_is_drawn_inside_its_box() -> None:
    image = _render(_drawing(shapes=[SHAPES["text"]]))  # "A" at (150, 60), 18 px
    pixels = np.asarray(image)
    painted = np.argwhere(pixels[:, :, 1] < 215)  # magenta lowers green; ignore filter ripple
    assert len(painted) > 20
    (top, left), (bottom, right) = painted.min(axis=0), painted.max(axis=0)
    assert left >= 150 and right < 150 + 18
    assert top >= 60 and bottom < 60 + 18
    # DejaVu "A": cap height 13 px, baseline at y + 9 + 6 (Konva's middle baseline).
    assert 61 <= top <= 63 and 74 <= bottom <= 76
    colours = pixels[tuple(np.argwhere((pixels != 255).any(axis=2)).T)]
    assert (colours[:, 0] >= 250).all() and (colours[:, 2] >= 250).all()  # magenta, no dark fringe


def test_text_falls_back_to_pillows_font(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drawing_render, "FONT_PATH", drawing_render.FONT_PATH.with_name("no.ttf"))
    drawing_render._font.cache_clear()
    try:
        pixels = np.asarray(_render(_drawing(shapes=[SHAPES["text"]])))
    finally:
        drawing_render._font.cache_clear()
    assert (pixels[55:85, 145:175] != 255).any()


def test_eraser_clears_earlier_lines_but_never_the_background() -> None:
    blue = Image.new("RGB", (200, 100), BLUE)
    eraser = {"tool": "eraser", "points": [100, 30, 100, 70], "color": "#000000", "strokeWidth": 10}
    image = _render(_drawing(lines=[_pen([10, 50, 190, 50]), eraser]), blue)
    assert _near(image.getpixel((100, 50)), BLUE, 2)
    assert _near(image.getpixel((80, 50)), RED)
    assert _near(image.getpixel((100, 20)), BLUE, 2)
    on_white = _render(_drawing(lines=[_pen([10, 50, 190, 50]), eraser]))
    assert _near(on_white.getpixel((100, 50)), WHITE, 2)


def test_eraser_only_reaches_what_was_painted_before_it() -> None:
    eraser = {"tool": "eraser", "points": [100, 30, 100, 70], "color": "#000000", "strokeWidth": 10}
    later = _pen([100, 10, 100, 90], color="#00ff00")
    image = _render(_drawing(lines=[_pen([10, 50, 190, 50]), eraser, later], shapes=[
        {**SHAPES["rect"], "x": 90, "y": 40, "width": 20, "height": 20}]))  # fmt: skip
    assert _near(image.getpixel((100, 50)), (0, 255, 0))  # the later pen line
    assert _near(image.getpixel((96, 50)), WHITE, 2)  # the erased red line
    assert _near(image.getpixel((96, 40)), (0, 170, 0))  # shapes are painted after every line


def test_background_is_stretched_to_the_stage() -> None:
    background = Image.new("RGBA", (50, 40), (0, 0, 255, 255))
    background.paste((0, 0, 0, 0), (0, 0, 25, 40))  # transparent left half shows white
    image = _render(_drawing(), background)
    assert image.size == (200, 100)
    assert _near(image.getpixel((10, 50)), WHITE, 2)
    assert _near(image.getpixel((190, 90)), BLUE, 2)


def test_a_16_bit_scan_is_scaled_not_clipped_to_white() -> None:
    image = _render(_drawing(), Image.new("I;16", (40, 20), 30_000))
    assert _near(image.getpixel((100, 50)), (117, 117, 117), 2)


def test_extreme_shapes_render_in_bounded_time() -> None:
    """Radii and text that dwarf the stage cost what the visible part costs, not their size."""
    shapes = [
        {**SHAPES["circle"], "radius": 100_000, "strokeWidth": 100},
        {**SHAPES["circle"], "id": "c2", "x": 50, "y": -9_000, "radius": 9_050, "strokeWidth": 100},
        {**SHAPES["text"], "x": -9_000, "y": 0, "text": "W" * 500, "fontSize": 200},
        {**SHAPES["arrow"], "x": -10_000, "y": -10_000, "points": [0, 0, 110_000, 110_000]},
    ]
    data = {**empty_drawing(100, 100), "shapes": shapes}
    started = time.perf_counter()
    image = _render(data, scale=8)
    assert time.perf_counter() - started < 5
    assert image.size == (800, 800)
    pixels = np.asarray(image).reshape(-1, 3)
    blue = (pixels == (0, 0, 255)).all(axis=1).mean()  # the second ring's band fills the stage
    magenta = (pixels == (255, 0, 255)).all(axis=1).mean()  # the text's visible glyphs
    black = (pixels == (0, 0, 0)).all(axis=1).mean()  # the arrow's shaft
    assert blue > 0.3 and magenta > 0.1 and black > 0.01


def test_text_clipped_to_the_layer_looks_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    text = {**SHAPES["text"], "x": -150.0, "y": 30, "text": "Haematoma, left knee, 3 cm x 2 cm"}
    clipped = np.asarray(_render(_drawing(shapes=[text])), dtype=int)
    monkeypatch.setattr(drawing_render, "_visible_part", lambda row, font, x, low, high: (x, row))
    whole = np.asarray(_render(_drawing(shapes=[text])), dtype=int)
    assert (whole != 255).any()
    assert np.abs(clipped - whole).max() <= 8  # only kerning across the cut may differ


def test_scale_two_doubles_everything() -> None:
    image = _render(_drawing(lines=[_pen([10, 50, 190, 50])]), scale=2)
    assert image.size == (400, 200)
    assert _near(image.getpixel((200, 100)), RED)
    assert all(_near(image.getpixel((200, y)), RED) for y in range(96, 104))  # 8 px wide now
    assert _near(image.getpixel((200, 92)), WHITE, 20) and _near(
        image.getpixel((200, 106)), WHITE, 20
    )


def test_scale_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="scale"):
        render_png(_drawing(), None, scale=100)


def test_edges_are_anti_aliased() -> None:
    image = _render(_drawing(lines=[_pen([10, 10, 190, 90], "#000000", 3)]))
    grey = np.asarray(image.convert("L"))
    painted = grey < 250
    partial = painted & (grey > 30) & (grey < 225)
    assert partial.sum() > 0.2 * painted.sum()  # hard-edged strokes have no partial pixels


def _capsule_distance(size: tuple[int, int], points: list[tuple[float, float]]) -> np.ndarray:
    ys, xs = np.mgrid[0 : size[1], 0 : size[0]] + 0.5  # pixel centres
    distance = np.full(xs.shape, np.inf)
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((xs - x0) * dx + (ys - y0) * dy) / max(dx * dx + dy * dy, 1e-12), 0, 1)
        distance = np.minimum(distance, np.hypot(xs - x0 - t * dx, ys - y0 - t * dy))
    return distance


@pytest.mark.parametrize("supersampled", [True, False], ids=["2x-lanczos", "direct"])
def test_stroke_edges_stay_within_one_pixel_of_the_exact_geometry(
    supersampled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every pixel more than 1 px inside a stroke is painted, every one more than 1 px out not."""
    if not supersampled:
        monkeypatch.setattr(drawing_render, "MAX_SUPERSAMPLED_PIXELS", 0)
    rng = random.Random(4)
    size = (96, 64)
    worst = 0.0
    for _ in range(40):
        points = [(rng.uniform(8, 88), rng.uniform(8, 56)) for _ in range(rng.randint(2, 5))]
        width = rng.choice([0.5, 1, 2, 3, 4.5, 8, 13])
        data = {
            "lines": [_pen([c for p in points for c in p], "#000000", width)],
            "shapes": [],
            "stageSize": {"width": size[0], "height": size[1]},
            "backgroundType": "none",
        }
        alpha = 1 - np.asarray(_render(data).convert("L"), dtype=float) / 255
        distance = _capsule_distance(size, points) - width / 2  # < 0 inside
        wrong = (alpha >= 0.5) != (distance <= 0)
        if wrong.any():
            worst = max(worst, float(np.abs(distance[wrong]).max()))
        assert (alpha[distance < -1] > 0.5).all() and (alpha[distance > 1] < 0.5).all()
    assert worst <= 1.0


def test_shape_edges_stay_within_one_pixel() -> None:
    circle = {**SHAPES["circle"], "x": 40.3, "y": 30.7, "radius": 17.2, "strokeWidth": 3}
    rect = {**SHAPES["rect"], "x": 70.4, "y": 10.6, "width": 30.5, "height": 40.2, "strokeWidth": 5}
    stage = (120, 64)
    data = {
        "lines": [],
        "shapes": [circle, rect],
        "stageSize": {"width": stage[0], "height": stage[1]},
        "backgroundType": "none",
    }
    alpha = 1 - np.asarray(_render(data).convert("L"), dtype=float) / 255
    ys, xs = np.mgrid[0 : stage[1], 0 : stage[0]] + 0.5
    ring = np.abs(np.hypot(xs - 40.3, ys - 30.7) - 17.2) - 1.5
    outer = np.maximum(np.abs(xs - 85.65) - 15.25 - 2.5, np.abs(ys - 30.7) - 20.1 - 2.5)
    inner = np.maximum(np.abs(xs - 85.65) - 15.25 + 2.5, np.abs(ys - 30.7) - 20.1 + 2.5)
    frame = np.maximum(outer, -inner)
    distance = np.minimum(ring, frame)  # signed: < 0 inside either outline
    assert (alpha[distance < -1] > 0.5).all()
    assert (alpha[distance > 1] < 0.5).all()


def test_render_accepts_a_validated_drawing_unchanged() -> None:
    data = validate_drawing(_drawing(lines=[_pen([10, 50, 190, 50])]), max_bytes=LIMIT)
    before = copy.deepcopy(data)
    render_png(data, Image.new("RGB", (10, 10), BLUE))
    assert data == before


def test_thumbnail_keeps_the_aspect_and_never_enlarges() -> None:
    png = render_png(_drawing(lines=[_pen([10, 50, 190, 50])]), None, scale=4)  # 800×400
    small = Image.open(io.BytesIO(thumbnail_png(png)))
    assert small.format == "PNG" and small.size == (320, 160)
    assert _near(small.getpixel((160, 80)), RED, 60)
    tiny = render_png(_drawing(), None)
    assert Image.open(io.BytesIO(thumbnail_png(tiny, max_side=500))).size == (200, 100)
    with pytest.raises(ValueError):
        thumbnail_png(png, max_side=0)
