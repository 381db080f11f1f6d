"""core/heap.py in a process of its own (freezing the test process's heap would keep every
object of every later test): the start-up heap is frozen, and cycles made afterwards are still
collected by the collector on its own."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import gc, weakref
    from taskagent.core import heap

    class Node:
        pass

    startup = [[i] for i in range(50_000)]  # a start-up heap (lists are always tracked)
    frozen = heap.settle(collect_first=True)
    assert frozen >= 50_000, frozen
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD

    # A short-lived cycle made after start-up: no explicit gc.collect(), only allocations.
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    churn = []
    for i in range(5 * heap.YOUNG_THRESHOLD):
        churn.append([i])
    assert gone() is None, "a cycle made after settle() was never collected"

    # Frozen objects are still freed by reference counting.
    first = Node()
    startup.append(first)
    gone = weakref.ref(first)
    del first, startup
    assert gone() is None
    print("ok", frozen)
    """
)


def test_settle_freezes_the_startup_heap_and_still_collects_new_cycles() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")
