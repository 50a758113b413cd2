"""Python's cyclic garbage collector: paused while an import chunk is validated and written, and while a
function's handler module is imported.

A chunk makes tens of thousands of dicts, lists and strings that only ever form
trees (JSON values, rows, statement parameters), so the collector can free none
of them; yet each of its passes walks them all, and the full passes walk the
chunk again and again as it grows: about a fifth of a chunk's time, often more
(docs/performance.md). Reference counting frees the chunk as soon as it is dropped; the
collector runs again after the block for whatever cycles it left.

A cold start is the same story: importing a handler makes tens of thousands of
objects (modules, classes, routes, pydantic schemas) that live as long as the
process, and the collector's passes walked them over and over during the import,
~15% of the API function's (docs/performance.md).
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


@contextmanager
def loading() -> Iterator[None]:
    """For a handler module's imports: the collector paused, then what they made frozen (`gc.freeze`).

    Frozen objects sit in the permanent generation, so no later pass walks them again either. The
    few hundred cycles an import leaves as garbage are frozen with them: a fixed few KB, for good,
    where collecting them first would cost a full pass over everything (~30 ms).
    """
    with paused():
        yield
        gc.freeze()
