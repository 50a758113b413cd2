"""A client's URL is downloaded only from public addresses (or trusted hosts), within time and size, never from inside.

The servers are real, on 127.0.0.1, and record what reaches them: a refused URL must not
even connect. Names other than localhost go through an injected resolver, so no DNS.
"""
from __future__ import annotations

import hashlib
import io
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ferry.imports.sources.url import FetchPolicy, FetchRefused, fetch
from ferry_local.file_servers import self_signed_certificate

Route = Callable[[BaseHTTPRequestHandler], None]
LOOPBACK = frozenset({"127.0.0.1"})


def policy(**overrides: object) -> FetchPolicy:
    settings: dict = {"max_bytes": 1_000_000, "timeout_s": 30.0, "allowed_hosts": LOOPBACK}
    return FetchPolicy(**{**settings, **overrides})


@dataclass
class Server:
    port: int
    scheme: str
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[dict[str, str | None]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: _RecordingServer

    def do_GET(self) -> None:
        record = self.server.record
        record.requests.append({"path": self.path, "host": self.headers["Host"]})
        route = record.routes.get(self.path)
        if route is None:
            self.send_error(404)
        else:
            route(self)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keeps the test output quiet


class _RecordingServer(ThreadingHTTPServer):
    record: Server

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the client hanging up on a refused body or certificate is what those tests expect


@contextmanager
def _serve(tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    httpd = _RecordingServer(("127.0.0.1", 0), _Handler)
    if tls is not None:
        # The handshake then happens in the request's thread, where a failed one is just a failed request.
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
    httpd.record = Server(port=httpd.server_address[1], scheme="http" if tls is None else "https")
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd.record
    finally:
        httpd.record.stop.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def server() -> Iterator[Server]:
    with _serve() as recording:
        yield recording


def body(data: bytes, *, content_length: bool = True) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        if content_length:
            handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return route


def redirect(location: str, status: int = 302) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return route


def stall(handler: BaseHTTPRequestHandler) -> None:
    handler.server.record.stop.wait(10)


def trickle(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    while not handler.server.record.stop.wait(0.05):
        handler.wfile.write(b"x")
        handler.wfile.flush()


def resolver(*addresses: str, calls: list[str] | None = None) -> Callable[..., list[tuple]]:
    """A getaddrinfo that answers `addresses` for any name, noting the names it was asked."""

    def resolve(host: str, port: int, *args: object, **kwargs: object) -> list[tuple]:
        if calls is not None:
            calls.append(host)
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    return resolve


def refusal(url: str, fetch_policy: FetchPolicy, **kwargs: object) -> str:
    with pytest.raises(FetchRefused) as refused:
        fetch(url, io.BytesIO(), fetch_policy, **kwargs)
    assert str(refused.value) == refused.value.reason
    return refused.value.reason


def test_a_trusted_host_is_downloaded_in_chunks_with_its_size_and_digest(server):
    data = bytes(range(256)) * 1000
    server.routes["/data.json?sig=abc"] = body(data, content_length=False)
    chunks: list[bytes] = []

    fetched = fetch(server.url("/data.json?sig=abc"), chunks.append, policy())

    assert b"".join(chunks) == data and len(chunks) > 1
    assert fetched.size == len(data)
    assert fetched.sha256 == hashlib.sha256(data).hexdigest()
    assert fetched.content_type == "application/json"
    assert fetched.final_url == server.url("/data.json?sig=abc")
    assert server.requests == [{"path": "/data.json?sig=abc", "host": f"127.0.0.1:{server.port}"}]


def test_a_file_object_is_a_sink_too(server):
    server.routes["/data.json"] = body(b"[1, 2, 3]")
    sink = io.BytesIO()

    assert fetch(server.url("/data.json"), sink, policy()).size == 9
    assert sink.getvalue() == b"[1, 2, 3]"


def test_loopback_is_refused_without_connecting_unless_trusted(server):
    server.routes["/data.json"] = body(b"[]")

    reason = refusal(server.url("/data.json"), policy(allowed_hosts=frozenset()))

    assert reason == "the URL's host 127.0.0.1 is a loopback address: refused"
    assert server.requests == []


def test_localhost_is_refused_as_loopback(server):
    reason = refusal(f"http://localhost:{server.port}/data.json", policy())

    assert reason.startswith("the URL's host localhost resolves to ")
    assert reason.endswith(", a loopback address: refused")
    assert server.requests == []


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://10.0.0.1/", "10.0.0.1 is a private address"),
        ("http://[::1]/", "::1 is a loopback address"),
        ("http://[::ffff:169.254.169.254]/", "a link-local address embedded in IPv6 (169.254.169.254)"),
        ("http://0.0.0.0:8080/", "0.0.0.0 is an unspecified address"),
        ("file:///etc/passwd", "not an http or https URL"),
    ],
)
def test_a_redirect_inside_is_refused_before_connecting(server, location, reason):
    server.routes["/data.json"] = redirect(location)

    refused = refusal(server.url("/data.json"), policy())

    assert refused.startswith("127.0.0.1 redirected to a refused URL: ")
    assert reason in refused
    assert [r["path"] for r in server.requests] == ["/data.json"]


@pytest.mark.parametrize(
    ("addresses", "reason"),
    [
        (["10.1.2.3"], "resolves to 10.1.2.3, a private address"),
        (["172.16.0.5"], "resolves to 172.16.0.5, a private address"),
        (["192.168.1.10"], "resolves to 192.168.1.10, a private address"),
        (["169.254.169.254"], "resolves to 169.254.169.254, a link-local address"),
        (["100.64.1.1"], "resolves to 100.64.1.1, a shared (carrier-grade NAT) address"),
        (["127.0.0.53"], "resolves to 127.0.0.53, a loopback address"),
        (["0.0.0.0"], "resolves to 0.0.0.0, an unspecified address"),
        (["224.0.0.251"], "resolves to 224.0.0.251, a multicast address"),
        (["240.0.0.1"], "resolves to 240.0.0.1, a reserved address"),
        (["198.18.0.1"], "resolves to 198.18.0.1, a special-purpose address"),
        (["fd00::1"], "resolves to fd00::1, a private address"),
        (["fe80::1"], "resolves to fe80::1, a link-local address"),
        (["::1"], "resolves to ::1, a loopback address"),
        (["ff02::1"], "resolves to ff02::1, a multicast address"),
        (["fec0::1"], "resolves to fec0::1, a site-local address"),
        (["::ffff:10.0.0.1"], "resolves to ::ffff:a00:1, a private address embedded in IPv6 (10.0.0.1)"),
        (["64:ff9b::169.254.169.254"], "resolves to 64:ff9b::a9fe:a9fe, a link-local address embedded in IPv6 (169.254.169.254)"),
        (["2002:c0a8:10a::"], "resolves to 2002:c0a8:10a::, a private address embedded in IPv6 (192.168.1.10)"),
        (["93.184.215.14", "10.0.0.7"], "resolves to 10.0.0.7, a private address"),
        (["2606:4700::6810:84e5", "fd12::2"], "resolves to fd12::2, a private address"),
    ],
)
def test_a_name_resolving_to_any_address_inside_is_refused(addresses, reason):
    calls: list[str] = []

    refused = refusal("https://files.example.com/data.json", policy(), resolve=resolver(*addresses, calls=calls))

    assert refused == f"the URL's host files.example.com {reason}: refused"
    assert calls == ["files.example.com"]


def test_the_connection_goes_to_the_address_vetted_with_the_urls_host_header(server):
    server.routes["/data.json"] = body(b"[]")
    calls: list[str] = []
    trusted = policy(allowed_hosts=frozenset({"files.example.com"}))

    fetch(f"http://files.example.com:{server.port}/data.json", io.BytesIO(), trusted, resolve=resolver("127.0.0.1", calls=calls))

    assert calls == ["files.example.com"]  # resolved once: a second answer could differ (DNS rebinding)
    assert server.requests == [{"path": "/data.json", "host": f"files.example.com:{server.port}"}]


def test_trusting_an_address_does_not_trust_names_that_resolve_to_it(server):
    refused = refusal(f"http://files.example.com:{server.port}/data.json", policy(), resolve=resolver("127.0.0.1"))

    assert refused == "the URL's host files.example.com resolves to 127.0.0.1, a loopback address: refused"
    assert server.requests == []


@pytest.mark.parametrize("content_length", [True, False])
def test_a_body_over_the_limit_is_refused_and_not_passed_on(server, content_length):
    server.routes["/big.json"] = body(b"x" * 300_000, content_length=content_length)
    received: list[bytes] = []

    with pytest.raises(FetchRefused) as refused:
        fetch(server.url("/big.json"), received.append, policy(max_bytes=100_000))

    assert refused.value.reason == "the file at 127.0.0.1 is larger than 100000 bytes: refused"
    assert sum(map(len, received)) <= 100_000
    if content_length:
        assert received == []  # refused on the Content-Length, before reading


def test_a_body_of_exactly_the_limit_is_accepted(server):
    server.routes["/data.json"] = body(b"x" * 100_000, content_length=False)

    assert fetch(server.url("/data.json"), io.BytesIO(), policy(max_bytes=100_000)).size == 100_000


def test_a_body_shorter_than_its_content_length_is_refused(server):
    def truncated(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.write(b"x" * 10)

    server.routes["/data.json"] = truncated

    assert refusal(server.url("/data.json"), policy()) == "the connection to 127.0.0.1 ended before the whole file arrived"


@pytest.mark.parametrize("route", [stall, trickle], ids=["silent", "trickling"])
def test_a_slow_server_is_cut_off_at_the_deadline(server, route):
    server.routes["/slow.json"] = route
    started = time.monotonic()

    refused = refusal(server.url("/slow.json"), policy(timeout_s=0.5))

    assert refused == "the download did not finish within 0.5 s"
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_followed_relative_to_the_current_url(server, status):
    server.routes["/start"] = redirect("files/data.json", status)
    server.routes["/files/data.json"] = body(b"[]")

    fetched = fetch(server.url("/start"), io.BytesIO(), policy())

    assert fetched.final_url == server.url("/files/data.json")
    assert [r["path"] for r in server.requests] == ["/start", "/files/data.json"]


def test_too_many_redirects_are_refused(server):
    server.routes["/loop"] = redirect("/loop")

    assert refusal(server.url("/loop"), policy(max_redirects=3)) == "more than 3 redirects"
    assert len(server.requests) == 4


def test_an_error_status_is_refused_with_its_code(server):
    assert refusal(server.url("/missing.json"), policy()) == "127.0.0.1 answered 404 Not Found instead of the file"


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/data.json", "file:///etc/passwd", "gopher://127.0.0.1:70/", "data:,[]"])
def test_other_schemes_are_refused(url):
    assert refusal(url, policy()) == "the URL is not an http or https URL"


@pytest.mark.parametrize("userinfo", ["user:secret@", "user@", ":secret@"])
def test_credentials_in_the_url_are_refused_without_repeating_them(server, userinfo):
    refused = refusal(f"http://{userinfo}127.0.0.1:{server.port}/data.json", policy())

    assert refused == "the URL has a user name or password in it: refused"
    assert server.requests == []


def test_an_untrusted_certificate_is_refused(tmp_path):
    tls, _ = _self_signed(tmp_path)
    with _serve(tls) as tls_server:
        tls_server.routes["/data.json"] = body(b"[]")

        refused = refusal(tls_server.url("/data.json"), policy())

        assert refused.startswith("the TLS certificate of 127.0.0.1 could not be verified: ")
        assert "self" in refused.removeprefix("the TLS certificate of")  # "self-signed certificate"
        assert tls_server.requests == []


@pytest.fixture
def trusting(monkeypatch):
    """Makes default TLS contexts also trust a certificate, standing in for the system's store."""

    def trust(cert_file: Path) -> None:
        default = ssl.create_default_context

        def context(*args: object, **kwargs: object) -> ssl.SSLContext:
            created = default(*args, **kwargs)
            created.load_verify_locations(cert_file)
            return created

        monkeypatch.setattr(ssl, "create_default_context", context)

    return trust


def test_https_is_read_through_the_vetted_address_within_the_deadline(tmp_path, trusting):
    tls, cert_file = _self_signed(tmp_path)
    trusting(cert_file)
    with _serve(tls) as tls_server:
        tls_server.routes["/data.json"] = body(b"x" * 200_000)
        tls_server.routes["/slow.json"] = trickle

        assert fetch(tls_server.url("/data.json"), io.BytesIO(), policy()).size == 200_000
        assert refusal(tls_server.url("/slow.json"), policy(timeout_s=0.5)) == "the download did not finish within 0.5 s"


def test_the_certificate_must_name_the_urls_host_not_the_address(tmp_path, trusting):
    tls, cert_file = _self_signed(tmp_path)  # names 127.0.0.1 only
    trusting(cert_file)
    with _serve(tls) as tls_server:
        trusted = policy(allowed_hosts=frozenset({"files.example.com"}))

        refused = refusal(
            f"https://files.example.com:{tls_server.port}/data.json", trusted, resolve=resolver("127.0.0.1")
        )

        assert refused.startswith("the TLS certificate of files.example.com could not be verified: ")
        assert "mismatch" in refused
        assert tls_server.requests == []


def _self_signed(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a certificate for 127.0.0.1 that only its own key signed, and that certificate's file.

    The name matches, so only the missing chain of trust can fail verification.
    """
    certificate_pem, key_pem = self_signed_certificate()
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate_pem)
    key_file.write_bytes(key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file
