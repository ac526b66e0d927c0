"""Where the service may send webhooks: public internet addresses only, unless the deployment allows more.

A webhook URL is chosen by whoever holds a key that may register one, so without this check the
service would POST (signed, retried) to its own cloud metadata endpoint, its database or anything on
the internal network, and the deliveries log would tell the caller what answered there. The policy
is applied three times:

1. at registration (`EgressPolicy.check_url`): the URL is parsed with httpx's own parser (the one that
   sends), the host is resolved, and every address it resolves to must be allowed;
2. before each delivery, when the connection is opened (`PinnedTransport`): the host is resolved
   again and every address checked (DNS may have changed since registration: DNS rebinding);
3. the socket then connects to that vetted address itself, never to the name (no second lookup
   between check and connect), and its peer address is checked once more. The URL is not
   rewritten, so the Host header and the TLS server name (SNI, certificate check) stay the host's.

Refused: loopback, private (RFC 1918, fc00::/7), shared (100.64/10), link-local (169.254/16,
fe80::/10, cloud metadata), multicast, reserved, unspecified, documentation and benchmark ranges,
whatever `ipaddress` does not call global, and IPv6 forms that embed such an IPv4 address
(IPv4-mapped and -compatible, 6to4, Teredo, NAT64). Every notation reaches the check as the
address the system resolver makes of it (decimal `2130706433`, hex `0x7f.1`, octal, short forms,
zone ids), because that is the resolver the connection would use. `localhost` and `*.localhost`
names are refused without asking DNS.

An allowlist opens internal receivers on purpose (`TAKEDOWN_WEBHOOK_ALLOW_HOSTS`: host names;
`TAKEDOWN_WEBHOOK_ALLOW_NETWORKS`: CIDRs such as 10.20.0.0/16 or 127.0.0.1/32).

Never follows redirects; never puts a resolved address or a connection error's text in what the
caller can read (see `app.api.delivery.error_category`).
"""

from __future__ import annotations

import ipaddress
import socket
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class Refused(Exception):
    """A webhook target the policy forbids. The message is meant for the caller who registers it."""


class Unresolvable(Refused):
    """The host name does not resolve."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries, which a gateway or the kernel may route to."""
    out = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    if ip.teredo is not None:
        out += list(ip.teredo)
    if any(ip in net for net in _NAT64) or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        out.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return out


def is_public(ip: IPAddress) -> bool:
    """True for an address on the public internet that a webhook may be sent to."""
    if (not ip.is_global or ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
            or ip.is_reserved or ip.is_unspecified):
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local:
            return False
        return all(is_public(v4) for v4 in _embedded_ipv4(ip))
    return True


def _networks(text: str) -> tuple[IPNetwork, ...]:
    nets = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            nets.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"TAKEDOWN_WEBHOOK_ALLOW_NETWORKS: {part!r} is not a network (CIDR, e.g. 10.0.0.0/8)") from None
    return tuple(nets)


def _host_key(host: str) -> str:
    """Names compare lower-case, as IDNA (what httpx sends), without trailing dots."""
    return host.strip().rstrip(".").lower()


@dataclass(frozen=True)
class EgressPolicy:
    allow_hosts: frozenset[str] = frozenset()
    allow_networks: tuple[IPNetwork, ...] = field(default=())

    @classmethod
    def from_text(cls, hosts: str = "", networks: str = "") -> EgressPolicy:
        """From comma-separated settings; a network that does not parse is an error, not ignored."""
        names = frozenset(_host_key(h) for h in hosts.split(",") if h.strip())
        return cls(names, _networks(networks))

    def address_allowed(self, host: str, ip: IPAddress) -> bool:
        if _host_key(host) in self.allow_hosts:
            return True
        if any(ip.version == net.version and ip in net for net in self.allow_networks):
            return True
        return is_public(ip)

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address `host` resolves to, each allowed; else Refused (nothing is connected to)."""
        if _host_key(host) not in self.allow_hosts:
            name = _host_key(host)
            if name == "localhost" or name.endswith(".localhost"):
                raise Refused(f"webhook host {host!r} is the local machine")
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)  # what a connection would use
        except (socket.gaierror, UnicodeError, OSError):
            raise Unresolvable(f"webhook host {host!r} does not resolve") from None
        addresses: list[IPAddress] = []
        for info in infos:
            ip = ipaddress.ip_address(info[4][0])
            if not self.address_allowed(host, ip):
                # the address stays out of the message: it is what an attacker would want to learn
                raise Refused(f"webhook host {host!r} is not a public internet address (loopback, private, "
                              "link-local, multicast and reserved targets are refused unless allowed by "
                              "TAKEDOWN_WEBHOOK_ALLOW_HOSTS or TAKEDOWN_WEBHOOK_ALLOW_NETWORKS)")
            if ip not in addresses:
                addresses.append(ip)
        if not addresses:
            raise Unresolvable(f"webhook host {host!r} does not resolve")
        return addresses

    def check_url(self, url: str) -> None:
        """Refuse a webhook URL that is malformed or points where webhooks may not go."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
            raise Refused(f"not a valid URL: {exc}") from None
        if parsed.scheme not in ("http", "https"):
            raise Refused("must be an http:// or https:// URL")
        if parsed.userinfo:
            raise Refused("a webhook URL may not carry a user name or password")
        if not parsed.raw_host:
            raise Refused("the URL has no host")
        host = parsed.raw_host.decode("ascii")
        self.resolve(host, parsed.port or (443 if parsed.scheme == "https" else 80))


class PinnedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, but a connection goes only to an address the policy vetted, looked up
    once (the address checked is the address connected to) and checked again once connected."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        last: Exception | None = None
        for ip in self.policy.resolve(host, port):
            try:
                stream = super().connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            peer = ipaddress.ip_address(stream.get_extra_info("socket").getpeername()[0])
            if peer != ip or not self.policy.address_allowed(host, peer):
                stream.close()
                raise Refused(f"webhook host {host!r} connected somewhere it may not")
            return stream
        assert last is not None  # resolve() returns at least one address
        raise last


class PinnedTransport(httpx.HTTPTransport):
    """httpx's transport over a pool whose connections go through `PinnedBackend`; no proxies from the
    environment (a proxy would do its own DNS)."""

    def __init__(self, policy: EgressPolicy, *, verify: typing.Any = True) -> None:
        super().__init__(trust_env=False, verify=verify)
        # httpx has no public hook for the network backend; its transport sends through `_pool`.
        # If a future httpx stops doing so, refuse to start rather than send unpinned.
        if not isinstance(getattr(self, "_pool", None), httpcore.ConnectionPool):
            raise RuntimeError("this httpx version cannot pin webhook connections; refusing to deliver unchecked")
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            network_backend=PinnedBackend(policy),
        )


def webhook_client(policy: EgressPolicy, *, timeout: float, verify: typing.Any = True) -> httpx.Client:
    """The one HTTP client webhooks are sent with: pinned, checked, no redirects, no environment proxies."""
    return httpx.Client(transport=PinnedTransport(policy, verify=verify), timeout=timeout,
                        follow_redirects=False, trust_env=False)
