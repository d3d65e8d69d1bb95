"""Webhook rules without servers: target addresses, the retry schedule, signatures, WEBHOOK_ALLOW_PRIVATE."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from pathlib import Path

import pytest

from openbook.config import WebhookSettings, load_settings
from openbook.errors import ConfigError, InvalidRequest, TargetRefused
from openbook.pipeline.targets import GuardedResolver, check_literal, ip_literal, parse_url, refusal
from openbook.pipeline.webhooks import decide, retry_delay, signature
from tests.test_config import good_env


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "a loopback address"), ("::1", "a loopback address"), ("10.0.0.1", "a private address"),
    ("172.31.255.255", "a private address"), ("192.168.0.1", "a private address"), ("fd00::1", "a private address"),
    ("169.254.169.254", "a link-local address"), ("fe80::1", "a link-local address"),
    ("224.0.0.251", "a multicast address"), ("ff02::1", "a multicast address"),
    ("0.0.0.0", "the unspecified address"), ("::", "the unspecified address"), ("100.64.0.1", "not a public address"),
    ("fec0::1", "a site-local address"), ("2002:7f00:1::", "a loopback address"), ("192.0.2.1", "a private address"),
    ("::ffff:10.0.0.1", "a private address"), ("240.0.0.1", "a private address"),
])
def test_non_public_addresses_are_refused_with_a_reason(address: str, reason: str) -> None:
    assert refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "2a00:1450:4001::200e"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


def test_legacy_ipv4_spellings_are_literals_not_names() -> None:
    for host in ("127.1", "0x7f.1", "2130706433", "0177.0.0.1"):
        assert ip_literal(host) == ipaddress.ip_address("127.0.0.1"), host
    assert ip_literal("hooks.example.com") is None and ip_literal("1.2.3.4.nip.io") is None
    with pytest.raises(TargetRefused):
        check_literal(parse_url("http://0x7f.1:8080/"))
    check_literal(parse_url("http://localhost:8080/"))  # names are checked when resolved


def test_urls_must_be_http_with_a_host() -> None:
    assert str(parse_url("HTTPS://Hooks.Example.COM/in")) == "https://hooks.example.com/in"
    for raw in ("ftp://h/", "http://", "//h/x", "h/x", "http://h/\n", "http://h:70000/"):
        with pytest.raises(InvalidRequest):
            parse_url(raw)


async def test_the_resolver_refuses_a_name_for_loopback() -> None:
    resolver = GuardedResolver()
    with pytest.raises(TargetRefused, match=r"localhost resolves to .*loopback"):
        await resolver.resolve("localhost", 80)
    await resolver.close()


def test_retries_double_with_bounded_jitter_and_end_after_about_an_hour() -> None:
    s = WebhookSettings()
    low = [retry_delay(n, s, lambda: 0.0) for n in range(1, s.max_attempts)]
    high = [retry_delay(n, s, lambda: 1.0) for n in range(1, s.max_attempts)]
    nominal = [retry_delay(n, s, lambda: 0.5) for n in range(1, s.max_attempts)]
    assert nominal == [30.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0]  # the table in docs/webhooks.md
    assert low == pytest.approx([d * 0.8 for d in nominal]) and high == pytest.approx([d * 1.2 for d in nominal])
    assert sum(low) > 50 * 60 and sum(high) < 80 * 60
    assert decide(1, 204, s) == ("delivered", 0.0)
    for code in (None, 301, 404, 500):
        assert decide(s.max_attempts, code, s) == ("failed", 0.0)
        outcome, delay = decide(1, code, s)
        assert outcome == "pending" and 24 <= delay <= 36


def test_the_signature_is_github_style_hmac_sha256_of_the_exact_body() -> None:
    body = b'{"data":{},"event":"branch.updated"}'
    expected = hmac.new(b"0123456789abcdef", body, hashlib.sha256).hexdigest()
    assert signature("0123456789abcdef", body) == f"sha256={expected}"


def test_webhook_allow_private_is_0_or_1(tmp_path: Path) -> None:
    assert load_settings("api", good_env(tmp_path)).webhooks.allow_private is False
    assert load_settings("worker", good_env(tmp_path) | {"WEBHOOK_ALLOW_PRIVATE": "1"}).webhooks.allow_private
    assert not load_settings("api", good_env(tmp_path) | {"WEBHOOK_ALLOW_PRIVATE": "0"}).webhooks.allow_private
    with pytest.raises(ConfigError, match="WEBHOOK_ALLOW_PRIVATE must be 0 or 1"):
        load_settings("api", good_env(tmp_path) | {"WEBHOOK_ALLOW_PRIVATE": "yes"})
