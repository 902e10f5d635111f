"""A blank counter page, served by the same build as our pages: the benchmark's baseline.

It holds no data and needs no login; `clinic bench events` compares our pages against it.
"""

import reflex as rx

from state.bench_counter import BenchCounterState


def bench_counter_page() -> rx.Component:
    return rx.box(
        rx.button("Increment", on_click=BenchCounterState.increment, id="bench-increment"),
        rx.text(BenchCounterState.count, id="bench-count"),
    )
