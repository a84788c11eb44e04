"""Where a webhook may be sent: against server-side request forgery (SSRF).

Outside development an endpoint must be https and its host must resolve only to public
addresses: loopback, private, link-local (cloud metadata lives there), shared, multicast and
reserved ranges are refused when the endpoint is saved and again at every send, because DNS
may answer differently later. The send then connects to the address that was checked (the
host name still goes in the Host header and TLS SNI), so a second lookup cannot swap it.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

Resolver = Callable[[str, int], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(ValueError):
    """The URL is not one a webhook may be sent to; the message says why."""


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    address: str | None
    """The checked address to connect to; None when private networks are allowed."""


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def parse(url: str, *, allow_private: bool) -> tuple[str, int]:
    """The host and port of ``url``, refusing what no endpoint may be."""
    try:
        return _host_and_port(urlsplit(url), allow_private=allow_private)
    except (ValueError, UnicodeError) as exc:  # a malformed host or port
        raise AddressRefused(f"the URL cannot be sent to: {exc}") from exc


def _host_and_port(parts: SplitResult, *, allow_private: bool) -> tuple[str, int]:
    allowed = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed:
        raise AddressRefused(f"the scheme must be {' or '.join(allowed)}")
    if not parts.hostname:
        raise AddressRefused("the URL names no host")
    if parts.username or parts.password:
        raise AddressRefused("credentials in the URL are refused; the signature authenticates")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


_EMBEDDING = tuple(ipaddress.ip_network(n) for n in (
    "64:ff9b::/96", "64:ff9b:1::/48",  # NAT64: an IPv4 address behind a translator
    "::/96",  # IPv4-compatible (deprecated), a loopback or private IPv4 in disguise
))  # fmt: skip


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is on the public internet, IPv4 inside IPv6 unwrapped (mapped,
    6to4, Teredo) and translated or compatible forms refused outright."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if inner is not None:
            return is_public(inner)
        if any(address in network for network in _EMBEDDING):
            return False
    return address.is_global and not address.is_multicast


async def target(url: str, *, allow_private: bool, resolver: Resolver) -> Target:
    """Where to connect for ``url``: every address its host resolves to must be public."""
    host, port = parse(url, allow_private=allow_private)
    if allow_private:
        return Target(host, port, None)
    addresses = [ipaddress.ip_address(found.split("%", 1)[0])
                 for found in await _resolved(host, port, resolver)]  # fmt: skip
    if not addresses:
        raise AddressRefused(f"the host {host} does not resolve")
    refused = [str(address) for address in addresses if not is_public(address)]
    if refused:
        raise AddressRefused(f"the host {host} resolves to a non-public address ({refused[0]})")
    return Target(host, port, str(addresses[0]))


async def _resolved(host: str, port: int, resolver: Resolver) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]  # an address literal names itself
    except ValueError:
        pass
    try:
        return await resolver(host, port)
    except (OSError, UnicodeError) as exc:  # UnicodeError: a label IDNA cannot encode
        raise AddressRefused(f"the host {host} does not resolve") from exc
