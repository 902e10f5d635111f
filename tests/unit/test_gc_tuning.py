"""The app process freezes its start-up heap, so a full garbage collection under load walks
only what was made since (short pauses; see ``clinic_app.gc_tuning``)."""

from __future__ import annotations

import gc

import clinic_app.clinic_app as the_app
from clinic_app.gc_tuning import freeze_startup_heap


def test_freezing_puts_the_start_up_heap_out_of_the_collectors_reach() -> None:
    startup_objects = [[n] for n in range(1000)]  # containers the collector would walk
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() >= len(startup_objects)
        assert not any(o is startup_objects for o in gc.get_objects(generation=2))
    finally:
        gc.unfreeze()


def test_the_app_freezes_its_heap_once_started() -> None:
    assert freeze_startup_heap in the_app.app.get_lifespan_tasks()
