"""Short garbage-collector pauses for the long-running app processes.

CPython's full collection walks every tracked object while holding the GIL. An app process
carries about 150 000 objects from start-up (Reflex, SQLAlchemy, the page tree) that never die,
so each full collection stopped the event loop for 100-200 ms and every event in flight waited
(measured at 200 clients: the clusters of slow events lined up with those pauses). Freezing the
start-up heap puts it out of the collector's reach; later full collections walk only what was
made since, which is what can become garbage.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect once, then freeze every surviving object (run when start-up is done)."""
    gc.collect()
    gc.freeze()
