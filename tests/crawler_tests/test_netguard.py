"""Refusing private, loopback, link-local and metadata addresses, before and after DNS."""

from __future__ import annotations

import pytest

from crawler.netguard import CachingResolver, Refused, check_url, is_public


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254",
                                     "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1",
                                     "224.0.0.1"])
def test_private_addresses_are_not_public(address):
    assert not is_public(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::6810:84e5"])
def test_public_addresses(address):
    assert is_public(address)


def fake_dns(table: dict[str, list[str]]):
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise Refused("dns", f"cannot resolve {host}")
        return table[host]
    return resolve


def test_names_resolving_to_private_addresses_are_refused():
    resolver = fake_dns({"metadata.google.internal": ["169.254.169.254"], "cdn.example.com": ["93.184.216.34"],
                         "mixed.example.com": ["93.184.216.34", "10.0.0.5"]})
    check_url("https://cdn.example.com/a.jpg", resolver=resolver)
    for url in ["http://metadata.google.internal/computeMetadata/v1/", "https://mixed.example.com/a.jpg"]:
        with pytest.raises(Refused) as info:
            check_url(url, resolver=resolver)
        assert info.value.reason == "private-address"


def test_literal_addresses_and_allow_lists():
    with pytest.raises(Refused, match="private-address"):
        check_url("http://127.0.0.1:8080/x.jpg")
    check_url("http://127.0.0.1:8080/x.jpg", allow_private={"127.0.0.1"})
    with pytest.raises(Refused, match="private-address"):
        check_url("http://[::1]:8080/x.jpg", allow_private={"127.0.0.1"})
    check_url("http://10.0.0.1/x.jpg", allow_private=True)


@pytest.mark.parametrize("url", ["ftp://example.com/a.jpg", "file:///etc/passwd", "javascript:alert(1)", "http:///x"])
def test_only_http_urls(url):
    with pytest.raises(Refused) as info:
        check_url(url, allow_private=True)
    assert info.value.reason == "bad-url"


def test_resolver_caches_answers_and_failures():
    calls = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        if host == "gone.example":
            raise Refused("dns", "cannot resolve gone.example")
        return ["93.184.216.34"]

    cached = CachingResolver(resolver=resolve)
    for _ in range(3):
        assert cached("a.example", 443) == ["93.184.216.34"]
        with pytest.raises(Refused, match="dns"):
            cached("gone.example", 443)
    assert calls == ["a.example", "gone.example"]
