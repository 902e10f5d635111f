"""State of the blank counter page: the baseline for the event round-trip benchmark."""

import reflex as rx


class BenchCounterState(rx.State):
    count: int = 0

    @rx.event
    def increment(self) -> None:
        self.count += 1
