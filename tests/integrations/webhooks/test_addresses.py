"""Against SSRF: where a webhook may go, checked when saved and again at each send."""

import ipaddress
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.integrations.webhooks import addresses
from app.integrations.webhooks.delivery import Claimed, Deliverer
from app.integrations.webhooks.signing import new_secret

NOT_PUBLIC = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4", "::1/128", "fc00::/7", "fe80::/10",
    "ff00::/8",
)]  # fmt: skip


@given(st.sampled_from(NOT_PUBLIC).flatmap(
    lambda net: st.integers(0, net.num_addresses - 1).map(lambda i: net[i])))  # fmt: skip
def test_no_address_of_a_private_or_special_range_is_public(address: Any):
    assert not addresses.is_public(address)
    if address.version == 4:  # nor the same address mapped into IPv6
        assert not addresses.is_public(ipaddress.IPv6Address(f"::ffff:{address}"))


@pytest.mark.parametrize("text", [
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::a00:1",
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo of 10.0.0.1
    "::127.0.0.1",  # IPv4-compatible
    "::ffff:10.0.0.1",
])  # fmt: skip
def test_ipv4_inside_ipv6_is_judged_by_what_it_carries(text: str):
    assert not addresses.is_public(ipaddress.ip_address(text))


@pytest.mark.parametrize("text", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_a_public_address_is_public(text: str):
    assert addresses.is_public(ipaddress.ip_address(text))


def _deliverer(app_settings: Any, clock: Any, resolved: list[str],
               handler: Any) -> Deliverer:  # fmt: skip
    settings = app_settings.model_copy(update={"webhook_allow_private_networks": False})

    async def resolve(host: str, port: int) -> list[str]:
        return resolved

    return Deliverer(None, settings, clock, name="test", resolver=resolve,  # type: ignore[arg-type]
                     transport=httpx.MockTransport(handler))  # fmt: skip


def _claimed(url: str) -> Claimed:
    return Claimed(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), "{}", 0, url, (new_secret(),),
                   "test/1")  # fmt: skip


async def test_a_send_goes_to_the_checked_address_under_the_hosts_name(app_settings, clock):
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="thanks")

    deliverer = _deliverer(app_settings, clock, ["93.184.216.34"], answer)
    outcome = await deliverer._send(_claimed("https://ehr.example.com:8443/hooks?x=1"))
    await deliverer.aclose()
    assert (outcome.succeeded, outcome.excerpt) == (True, "thanks")
    [request] = seen
    assert str(request.url) == "https://93.184.216.34:8443/hooks?x=1"
    assert request.headers["host"] == "ehr.example.com:8443"
    assert request.extensions["sni_hostname"] == "ehr.example.com"


async def test_a_host_that_now_resolves_inside_is_not_sent_to(app_settings, clock):
    def never(request: httpx.Request) -> httpx.Response:
        raise AssertionError("sent")

    deliverer = _deliverer(app_settings, clock, ["10.1.2.3"], never)
    outcome = await deliverer._send(_claimed("https://ehr.example.com/hooks"))
    await deliverer.aclose()
    assert not outcome.succeeded
    assert outcome.error == "refused: the host ehr.example.com resolves to a non-public address " \
                            "(10.1.2.3)"  # fmt: skip


async def test_a_redirect_is_a_failure_and_is_not_followed(app_settings, clock):
    seen: list[httpx.Request] = []

    def redirect(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(307, headers={"location": "http://169.254.169.254/"})

    deliverer = _deliverer(app_settings, clock, ["93.184.216.34"], redirect)
    outcome = await deliverer._send(_claimed("https://ehr.example.com/hooks"))
    await deliverer.aclose()
    assert (outcome.succeeded, outcome.status_code, len(seen)) == (False, 307, 1)


async def test_a_long_answer_is_cut_to_an_excerpt(app_settings, clock):
    def chatty(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text="é" * 100_000)

    deliverer = _deliverer(app_settings, clock, ["93.184.216.34"], chatty)
    outcome = await deliverer._send(_claimed("https://ehr.example.com/hooks"))
    await deliverer.aclose()
    assert outcome.excerpt == "é" * 1000


async def test_an_attempt_that_raises_is_a_failed_attempt_not_a_lost_batch(app_settings, clock):
    def broken(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("a bug of ours")

    deliverer = _deliverer(app_settings, clock, ["93.184.216.34"], broken)
    outcome = await deliverer._send(_claimed("https://ehr.example.com/hooks"))
    await deliverer.aclose()
    assert not outcome.succeeded
    assert outcome.error == "RuntimeError: a bug of ours"


@pytest.mark.parametrize("url", [
    f"https://{'a' * 64}.example.com/hook",  # a label longer than IDNA allows
    "https://ehr.example.com:99999/hook",
])  # fmt: skip
async def test_a_url_no_one_can_send_to_is_refused(url: str):
    with pytest.raises(addresses.AddressRefused):
        await addresses.target(url, allow_private=False, resolver=addresses.system_resolver)
