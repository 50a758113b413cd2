"""Stream helpers for the readers: a stream whose start was already read to look at it."""
from __future__ import annotations

import io
from typing import Any, BinaryIO


class _Prefixed(io.RawIOBase):
    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n], self._head = self._head[:n], self._head[n:]
            return n
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def prefixed(head: bytes, stream: BinaryIO) -> BinaryIO:
    """`head` (bytes already read from `stream` to look at its start), then the rest of `stream`, as one stream."""
    return io.BufferedReader(_Prefixed(head, stream), buffer_size=1 << 20)
