"""Python's cyclic garbage collector, paused while an import chunk is validated and written.

A chunk makes tens of thousands of dicts, lists and strings that only ever form
trees (JSON values, rows, statement parameters), so the collector can free none
of them; yet each of its passes walks them all, and the full passes walk the
chunk again and again as it grows: about a fifth of a chunk's time, often more
(docs/performance.md). Reference counting frees the chunk as soon as it is dropped; the
collector runs again after the block for whatever cycles it left.
"""
from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """The collector off for the block, then on again unless it was already off."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
