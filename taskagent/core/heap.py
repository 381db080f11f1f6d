"""The garbage collector's settings for a process that runs for days with a large, steady heap.

CPython's cyclic collector starts a young-generation pass every 700 net new container objects
and, every hundred of those, a full pass over every tracked object. After start-up the daemon
holds about a million of them (modules, pydantic and MCP schemas, the tasks), none of which
ever becomes garbage, and every run allocates thousands of short-lived ones: with 250 runs a
second and CPython's default thresholds the collector takes ~90 ms of every second (~0.35 ms
per run, a full pass ~150 ms).

`settle()` is called once, when start-up is done (the daemon once it scheduled every task,
the app once its scheduler is up):
  * `gc.freeze()` moves everything alive now to the permanent generation, which no pass
    scans again (those objects are still freed by reference counting as usual; only a cycle
    among them that becomes garbage would stay, a one-off bounded by the start-up heap);
  * the young generation is collected every `YOUNG_THRESHOLD` net allocations instead of 700,
    so a run's short-lived cycles are still collected within a fraction of a second.
With these settings the same load spends ~7 ms of every second in the collector. Only
processes call it, never library code: a test process that froze each app it started would
keep every one of them.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

YOUNG_THRESHOLD = 10_000
OLDER_THRESHOLDS = (10, 10)  # CPython's defaults for the middle and old generations


def settle(*, collect_first: bool = False) -> int:
    """Freeze the start-up heap and collect the young generation less often; returns the number
    of objects frozen. `collect_first` (the daemon; the app skips it, a full pass would stall
    its screen for a moment) frees start-up's garbage before it is frozen."""
    if collect_first:
        gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
    frozen = gc.get_freeze_count()
    log.debug("start-up heap frozen: %d objects", frozen)
    return frozen
