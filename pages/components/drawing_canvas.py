"""The drawing editor (``drawing_canvas.jsx``, our own React component on react-konva and
konva from npm, both MIT) wrapped for Reflex.

The browser keeps the strokes; the server gets the whole drawing as JSON through
``on_change`` at most every 2 seconds while drawing and at once when the page is hidden or
the editor loses focus (the autosave). ``revision`` tells the editor the server's version
changed, so it shows that version (a reload, or "keep theirs" after a conflict).
"""

from __future__ import annotations

from typing import Any, cast

import reflex as rx
from reflex.vars.base import Var

KONVA = "konva@10.9.1"
REACT_KONVA = "react-konva@19.3.2"


def _drawing_spec(data: Var) -> tuple[Var[str]]:
    return (Var(_js_expr=f"{data!s}", _var_type=str),)


class DrawingCanvas(rx.NoSSRComponent):
    """``<DrawingCanvas>`` (needs ``window``: no server rendering)."""

    library = "$/public" + rx.asset("drawing_canvas.jsx", shared=True)
    tag = "DrawingCanvas"
    is_default = True
    lib_dependencies: list[str] = [REACT_KONVA, KONVA]  # noqa: RUF012 - read by Reflex

    value: rx.Var[str]
    revision: rx.Var[int]
    background_url: rx.Var[str]
    read_only: rx.Var[bool]
    width: rx.Var[int]

    on_change: rx.EventHandler[_drawing_spec]  # type: ignore[type-arg,valid-type]

    @classmethod
    def create(cls, *children: Any, **props: Any) -> DrawingCanvas:
        return cast(DrawingCanvas, super().create(*children, **props))


drawing_canvas = DrawingCanvas.create
