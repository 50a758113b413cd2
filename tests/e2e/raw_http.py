"""Requests FerryClient cannot make: exact headers (or none at all), exact bytes, and broken HTTP framing.

`send` goes through http.client, which adds only Host and Content-Length (no default
Content-Type, unlike urllib). `exchange` writes bytes to a raw socket and reads back
whatever the server answers, for requests no HTTP library would produce.
"""
from __future__ import annotations

import http.client
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from tests.e2e.client import Answer


def send(
    base_url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: list[tuple[str, str | bytes]] | tuple[tuple[str, str | bytes], ...] = (),
    timeout: float = 60.0,
) -> Answer:
    """One request with exactly these headers; Content-Length is added when there is a body (even an empty one)."""
    url = urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        try:
            conn.endheaders(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer (413) and close before reading it all: its answer is still to be read
        response = conn.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


@dataclass
class Exchange:
    """What came back on a raw connection: an answer, or why there is none."""

    answer: Answer | None
    status_line: str = ""
    failure: str = ""  # set when answer is None


def exchange(base_url: str, payload: bytes, timeout: float, half_close: bool = False) -> Exchange:
    """Writes `payload` as is (in a thread, so an early answer is read even while sending) and reads one answer.

    `half_close` shuts the sending side after the payload, as a client whose stream
    ends early would. The answer must start within `timeout` seconds.
    """
    url = urlsplit(base_url)
    with socket.create_connection((url.hostname, url.port), timeout=timeout) as sock:
        sender = threading.Thread(target=_send_all, args=(sock, payload, half_close), daemon=True)
        sender.start()
        deadline = time.monotonic() + timeout
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            if not data:
                return Exchange(None, failure=f"no answer within {timeout:g} s")
        except ConnectionResetError:
            if not data:
                return Exchange(None, failure="connection reset without an answer")
        if not data:
            return Exchange(None, failure="connection closed without an answer")
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status_line = lines[0]
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            return Exchange(None, status_line, failure=f"not an HTTP status line: {status_line[:120]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        wanted = int(headers["content-length"]) if headers.get("content-length", "").isdigit() else None
        try:
            while wanted is None or len(body) < wanted:
                sock.settimeout(max(0.01, deadline + timeout - time.monotonic()))
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return Exchange(Answer(int(parts[1]), headers, body[:wanted] if wanted is not None else body), status_line)


def _send_all(sock: socket.socket, payload: bytes, half_close: bool) -> None:
    try:
        sock.sendall(payload)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the server stopped reading: its answer (or its silence) is what the test looks at
