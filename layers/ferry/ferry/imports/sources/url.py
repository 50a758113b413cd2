"""Downloads a job's attachment from a URL the client chose, without letting that URL reach inside our network.

The worker runs where the instance metadata service and private services answer, so a
client's URL is vetted before any byte is sent: http or https only, no credentials, and
every address its host resolves to must be public unless the deployment trusts the host.
The connection then goes to the vetted address itself: resolving the name again could
answer differently (DNS rebinding). Each redirect is vetted the same way, and the whole
download is bounded in time and size. Every failure is a FetchRefused whose reason is fit
for the job's output: it names the host, never the path or query (they may hold tokens).
"""
from __future__ import annotations

import hashlib
import http.client
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, BinaryIO
from urllib.parse import quote, urljoin, urlsplit

_CHUNK = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")
_DIGITS = re.compile(r"[0-9]+")
# Named apart from ipaddress's is_private, which also covers documentation and benchmarking ranges.
_PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
# RFC 6598: ipaddress calls it neither private nor global, yet it reaches the provider's own network.
_SHARED = ipaddress.ip_network("100.64.0.0/10")
# RFC 6052: a NAT64 gateway delivers these to the IPv4 address in their last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchRefused(Exception):
    """A URL that was not downloaded, and why, in words fit for the failed job's output."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int
    timeout_s: float  # for the whole download, redirects included
    max_redirects: int = 5
    # Names or IP literals the deployment trusts even where they resolve to non-public addresses.
    allowed_hosts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Fetched:
    size: int
    sha256: str  # hex
    content_type: str | None
    final_url: str  # after redirects
    # The validators a later conditional fetch sends back, when the server gave them.
    etag: str | None = None
    last_modified: str | None = None
    # The server answered 304 to a conditional fetch: nothing was written, size and sha256 are the empty body's.
    not_modified: bool = False


def fetch(
    url: str,
    sink: Callable[[bytes], object] | BinaryIO,
    policy: FetchPolicy,
    resolve: Callable[..., list[tuple[Any, ...]]] = socket.getaddrinfo,
    *,
    if_none_match: str | None = None,
    if_modified_since: str | None = None,
) -> Fetched:
    """Streams the file at `url` into `sink` chunk by chunk within `policy`, or raises FetchRefused saying why not.

    With `if_none_match` or `if_modified_since` (an earlier Fetched's etag, last_modified)
    the request is conditional, and a 304 answers a Fetched that says `not_modified`.
    """
    conditional = {"If-None-Match": if_none_match, "If-Modified-Since": if_modified_since}
    conditional = {name: value for name, value in conditional.items() if value is not None}
    write = sink if callable(sink) else sink.write
    deadline = _Deadline(policy.timeout_s)
    redirected_by: str | None = None
    for _ in range(policy.max_redirects + 1):
        try:
            target = _target(url)
            addresses = _vetted_addresses(target, policy, resolve)
        except FetchRefused as refused:
            if redirected_by is None:
                raise
            raise FetchRefused(f"{redirected_by} redirected to a refused URL: {refused.reason}") from None
        connection = _PinnedConnection(target, addresses, deadline)
        try:
            with _network_errors(target.host, deadline):
                # skip_host: http.client would add ":443" to an https Host, as it takes this for a plain connection.
                connection.putrequest("GET", target.request_target, skip_host=True)
                connection.putheader("Host", target.host_header)
                connection.putheader("User-Agent", "ferry-fetch")
                connection.putheader("Connection", "close")
                # Sent on every hop: only the server that holds the file can judge it, the others ignore them.
                for name, value in conditional.items():
                    connection.putheader(name, value)
                connection.endheaders()
                response = connection.getresponse()
            # http.client lets go of a response once the server says it closes the connection: close it here.
            with response:
                if response.status in _REDIRECTS:
                    location = response.getheader("Location")
                    if not location:
                        raise FetchRefused(f"{target.host} answered {response.status} without a Location to follow")
                    url = urljoin(url, location.strip())
                    redirected_by = target.host
                    continue
                if response.status == HTTPStatus.NOT_MODIFIED and conditional:
                    return _not_modified(response, url)
                if not 200 <= response.status < 300:
                    raise FetchRefused(f"{target.host} answered {_status(response.status)} instead of the file")
                return _download(response, target.host, write, policy, deadline, url)
        finally:
            connection.close()
    raise FetchRefused(f"more than {policy.max_redirects} redirects")


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # lower-case ASCII name, or a canonical IP literal without brackets
    port: int
    host_header: str
    request_target: str  # path and query, percent-encoded where they were not


def _target(url: str) -> _Target:
    try:
        parts = urlsplit(url)
        explicit_port = parts.port
    except ValueError:
        raise FetchRefused("the URL is not valid") from None
    if parts.scheme not in _DEFAULT_PORTS:
        raise FetchRefused("the URL is not an http or https URL")
    if "@" in parts.netloc:
        raise FetchRefused("the URL has a user name or password in it: refused")
    host = _host(parts.hostname)
    default_port = _DEFAULT_PORTS[parts.scheme]
    port = default_port if explicit_port is None else explicit_port
    bracketed = f"[{host}]" if ":" in host else host
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(
        scheme=parts.scheme,
        host=host,
        port=port,
        host_header=bracketed if port == default_port else f"{bracketed}:{port}",
        # Encodes spaces, controls and non-ASCII (which http.client would refuse) and keeps what is already encoded.
        request_target=quote(path, safe="/?:@!$&'()*+,;=%~"),
    )


def _host(hostname: str | None) -> str:
    if not hostname:
        raise FetchRefused("the URL has no host")
    try:
        return str(ipaddress.ip_address(hostname))
    except ValueError:
        pass
    try:
        name = hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise FetchRefused("the URL's host is not a valid host name") from None
    if len(name) > 253 or not _HOST_NAME.fullmatch(name):
        raise FetchRefused("the URL's host is not a valid host name")
    return name


def _canonical_host(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        return name.lower()


def _vetted_addresses(
    target: _Target, policy: FetchPolicy, resolve: Callable[..., list[tuple[Any, ...]]]
) -> list[tuple[int, tuple[Any, ...]]]:
    """Every (family, sockaddr) the host resolves to, once, each of them public unless the host is trusted."""
    return vetted_addresses(target.host, target.port, policy.allowed_hosts, resolve, "the URL's host")


def vetted_addresses(
    host: str,
    port: int,
    allowed_hosts: frozenset[str],
    resolve: Callable[..., list[tuple[Any, ...]]] = socket.getaddrinfo,
    what: str = "the host",
) -> list[tuple[int, tuple[Any, ...]]]:
    """Every (family, sockaddr) `host` resolves to, each of them public unless the host is in `allowed_hosts`.

    Also what keeps an export's SFTP or FTP destination off Ferry's own network; `what`
    names the host in the refusal ("the URL's host", "the destination's host").
    """
    host = _canonical_host(host)
    try:
        infos = resolve(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise FetchRefused(f"{what} {host} could not be resolved") from None
    trusted = host in {_canonical_host(name) for name in allowed_hosts}
    addresses = []
    for family, _type, _proto, _canonname, sockaddr in infos:
        try:
            ip = ipaddress.ip_address(sockaddr[0])
        except ValueError:
            raise FetchRefused(f"{what} {host} resolves to something not an IP address") from None
        kind = None if trusted else _kind_if_not_public(ip)
        if kind is not None:
            where = "is" if str(ip) == host else f"resolves to {ip},"
            raise FetchRefused(f"{what} {host} {where} {kind}: refused")
        addresses.append((family, sockaddr))
    if not addresses:
        raise FetchRefused(f"{what} {host} resolves to no address")
    return addresses


def _kind_if_not_public(ip: IPAddress) -> str | None:
    """What kind of non-public address `ip` is ("a loopback address"), or None when it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        # The network delivers these to an IPv4 address, so that address decides (and DNS64 answers stay usable).
        embedded = ip.ipv4_mapped or ip.sixtofour or (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None)
        if embedded is not None:
            kind = _kind_if_not_public(embedded)
            return None if kind is None else f"{kind} embedded in IPv6 ({embedded})"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    # ipaddress calls IPv4 multicast, IPv6 multicast and IPv6 site-local addresses global.
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "a site-local address"
    if ip in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if any(ip in network for network in _PRIVATE):
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "a special-purpose address"
    return None


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._at = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self._at - time.monotonic()
        if left <= 0:
            raise self.refusal()
        return left

    def refusal(self) -> FetchRefused:
        return FetchRefused(f"the download did not finish within {self._seconds:g} s")


class _DeadlineReads:
    """Sets the socket's timeout to the time left before each read: a server that trickles bytes is cut off too."""

    deadline: _Deadline

    def recv_into(self, *args: Any) -> int:
        self.settimeout(self.deadline.remaining())
        return super().recv_into(*args)


class _DeadlineSocket(_DeadlineReads, socket.socket):
    pass


class _DeadlineSSLSocket(_DeadlineReads, ssl.SSLSocket):
    pass


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP or HTTPS connection to addresses vetted beforehand: connect() never resolves the name again."""

    def __init__(self, target: _Target, addresses: list[tuple[int, tuple[Any, ...]]], deadline: _Deadline) -> None:
        super().__init__(target.host, target.port)
        self._addresses = addresses
        self._deadline = deadline
        self._tls = _tls_context() if target.scheme == "https" else None

    def connect(self) -> None:
        sock = self._first_to_answer()
        if self._tls is not None:
            # The certificate is checked against the URL's host name (SNI too), not the address connected to.
            sock = self._tls.wrap_socket(sock, server_hostname=self.host)
            sock.deadline = self._deadline
        self.sock = sock

    def _first_to_answer(self) -> _DeadlineSocket:
        failures: list[OSError] = []
        for family, sockaddr in self._addresses:
            sock = _DeadlineSocket(family, socket.SOCK_STREAM)
            sock.deadline = self._deadline
            try:
                sock.settimeout(self._deadline.remaining())
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                failures.append(exc)
                continue
            except BaseException:
                sock.close()
                raise
            return sock
        raise failures[-1]


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()  # verifies the certificate chain and the host name
    context.sslsocket_class = _DeadlineSSLSocket
    return context


@contextmanager
def _network_errors(host: str, deadline: _Deadline) -> Iterator[None]:
    """Turns what the network and the server can do wrong into a FetchRefused that says so plainly."""
    try:
        yield
    except ssl.SSLCertVerificationError as exc:
        raise FetchRefused(f"the TLS certificate of {host} could not be verified: {exc.verify_message}") from None
    except ssl.SSLError as exc:
        raise FetchRefused(f"the TLS connection to {host} failed: {exc.reason or 'unknown reason'}") from None
    except TimeoutError:
        # Each socket timeout is the time left before the deadline, so a timeout is the deadline passing.
        raise deadline.refusal() from None
    except http.client.RemoteDisconnected:
        raise FetchRefused(f"{host} closed the connection without answering") from None
    except http.client.IncompleteRead:
        raise FetchRefused(f"the connection to {host} ended before the whole file arrived") from None
    except http.client.HTTPException:
        raise FetchRefused(f"{host} sent a malformed HTTP answer") from None
    except OSError as exc:
        raise FetchRefused(f"the connection to {host} failed: {exc.strerror or type(exc).__name__}") from None


def _download(
    response: http.client.HTTPResponse,
    host: str,
    write: Callable[[bytes], object],
    policy: FetchPolicy,
    deadline: _Deadline,
    url: str,
) -> Fetched:
    declared = response.headers.get("Content-Length")
    if declared is not None and not _DIGITS.fullmatch(declared.strip()):
        raise FetchRefused(f"{host} sent a malformed HTTP answer")
    length = None if declared is None else int(declared)
    too_large = FetchRefused(f"the file at {host} is larger than {policy.max_bytes} bytes: refused")
    if length is not None and length > policy.max_bytes:
        raise too_large
    digest = hashlib.sha256()
    size = 0
    while True:
        with _network_errors(host, deadline):
            chunk = response.read1(_CHUNK)  # what has arrived: a slow server's bytes reach the sink as they come
        if not chunk:
            break
        size += len(chunk)
        if size > policy.max_bytes:
            raise too_large
        digest.update(chunk)
        write(chunk)
    # http.client takes a connection closed early for the end of the body.
    if length is not None and size != length:
        raise FetchRefused(f"the connection to {host} ended before the whole file arrived")
    return Fetched(
        size=size,
        sha256=digest.hexdigest(),
        content_type=response.getheader("Content-Type"),
        final_url=url,
        etag=response.getheader("ETag"),
        last_modified=response.getheader("Last-Modified"),
    )


def _not_modified(response: http.client.HTTPResponse, url: str) -> Fetched:
    return Fetched(
        size=0,
        sha256=hashlib.sha256(b"").hexdigest(),
        content_type=None,
        final_url=url,
        etag=response.getheader("ETag"),
        last_modified=response.getheader("Last-Modified"),
        not_modified=True,
    )


def _status(code: int) -> str:
    # The standard phrase, not the server's: the server's words would end up in the job's output.
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)
