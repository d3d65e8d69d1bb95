"""Where webhooks may be sent: http(s) URLs whose host is a public unicast address.

A webhook URL is chosen by a tenant, and the delivery loop POSTs to it from
inside our network: without a guard, `http://169.254.169.254/` or
`http://localhost:6379/` would let a tenant reach our metadata service or
Redis (SSRF). So unless `WEBHOOK_ALLOW_PRIVATE=1`:

- at creation, a URL whose host is an IP literal (including the legacy
  forms `127.1` and `0x7f.1` that resolvers accept) must be public;
- at delivery, the host is resolved once by `GuardedResolver` and every
  address must be public; the connection then goes to exactly those
  addresses, so a name that resolves elsewhere a moment later (DNS
  rebinding) changes nothing.
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from openbook.errors import InvalidRequest, TargetRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL = 2048
SCHEMES = ("http", "https")


def parse_url(raw: str) -> URL:
    """`raw` as an absolute http(s) URL with a host; InvalidRequest (details.field = url) otherwise."""

    def bad(why: str) -> InvalidRequest:
        return InvalidRequest(f"url {raw!r}: {why}", {"field": "url"})

    if len(raw) > MAX_URL:
        raise bad(f"longer than {MAX_URL} characters")
    if any(c.isspace() or not c.isprintable() for c in raw):
        raise bad("contains white space or control characters")
    try:
        url = URL(raw)
    except ValueError as exc:
        raise bad(str(exc)) from None
    if url.scheme not in SCHEMES:
        raise bad("must start with http:// or https://")
    if not url.host:
        raise bad("has no host")
    return url


def ip_literal(host: str) -> IPAddress | None:
    """The address `host` spells, or None for a name (legacy IPv4 forms such as `127.1` count)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        # inet_aton accepts what getaddrinfo would resolve without DNS: 127.1, 0x7f.1, 2130706433.
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _embedded(ip: IPAddress) -> list[IPAddress]:
    """`ip` and the IPv4 addresses it carries (mapped, 6to4, Teredo): each must be public."""
    found: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            found.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            found.append(ip.sixtofour)
        if ip.teredo is not None:
            found.extend(ip.teredo)
    return found


def refusal(ip: IPAddress) -> str | None:
    """Why `ip` is not a webhook target (e.g. "a loopback address"), or None for a public unicast one."""
    for candidate in _embedded(ip):
        site_local = isinstance(candidate, ipaddress.IPv6Address) and candidate.is_site_local
        for reason, hit in (("the unspecified address", candidate.is_unspecified),
                            ("a loopback address", candidate.is_loopback),
                            ("a link-local address", candidate.is_link_local),
                            ("a multicast address", candidate.is_multicast),
                            ("a private address", candidate.is_private),
                            ("a reserved address", candidate.is_reserved),
                            ("a site-local address", site_local),
                            # Shared (100.64/10) and other special ranges are in none of the sets above.
                            ("not a public address", not candidate.is_global)):
            if hit:
                return reason
    return None


def check_literal(url: URL) -> None:
    """TargetRefused when the URL's host is an IP literal that is not public (names pass)."""
    ip = ip_literal(url.host or "")
    reason = None if ip is None else refusal(ip)
    if reason is not None:
        raise TargetRefused(
            f"url {str(url)!r}: {ip} is {reason}; webhooks go to public addresses only"
            " (WEBHOOK_ALLOW_PRIVATE=1 allows private ones)",
            {"field": "url", "address": str(ip)})


class GuardedResolver(AbstractResolver):
    """The system resolver, refusing (TargetRefused) a name with any non-public address."""

    def __init__(self) -> None:
        self._inner = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        for entry in found:
            ip = ipaddress.ip_address(entry["host"])
            reason = refusal(ip)
            if reason is not None:
                raise TargetRefused(f"{host} resolves to {ip}, {reason}; webhooks go to public addresses only"
                                    " (WEBHOOK_ALLOW_PRIVATE=1 allows private ones)",
                                    {"host": host, "address": str(ip)})
        return found

    async def close(self) -> None:
        await self._inner.close()
