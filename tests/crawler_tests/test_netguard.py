"""Refusing private, loopback, link-local and metadata addresses, before and after DNS."""

from __future__ import annotations

import pytest

from crawler.netguard import CachingResolver, Refused, check_url, is_public, parse_allowed_host


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ],
)
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
    resolver = fake_dns(
        {
            "metadata.google.internal": ["169.254.169.254"],
            "cdn.example.com": ["93.184.216.34"],
            "mixed.example.com": ["93.184.216.34", "10.0.0.5"],
        }
    )
    check_url("https://cdn.example.com/a.jpg", resolver=resolver)
    for url in [
        "http://metadata.google.internal/computeMetadata/v1/",
        "https://mixed.example.com/a.jpg",
    ]:
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


@pytest.mark.parametrize(
    "url", ["ftp://example.com/a.jpg", "file:///etc/passwd", "javascript:alert(1)", "http:///x"]
)
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


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::a9fe:a9fe",  # NAT64 of the metadata address 169.254.169.254
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::10.0.0.1",
        "64:ff9b:1::a9fe:a9fe",  # local-use NAT64
        "64:ff9b:1::808:808",
        "::169.254.169.254",  # IPv4-compatible
        "::10.0.0.1",
        "::ffff:169.254.169.254",  # IPv4-mapped
        "::ffff:0:169.254.169.254",  # SIIT IPv4-translated
        "::ffff:0:192.168.1.1",
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
        "2001:0:4136:e378:8000:63bf:3f57:fefd",  # Teredo, client 192.168.1.2
    ],
)
def test_ipv6_forms_embedding_a_private_ipv4_are_refused(address):
    """Issue 13: IPv6 forms that carry an IPv4 address passed the guard; the fetcher connected."""
    assert not is_public(address)
    with pytest.raises(Refused, match="private-address"):
        check_url(f"http://[{address}]/latest/meta-data/")


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "::ffff:0:8.8.8.8", "2002:808:808::1"])
def test_ipv6_forms_embedding_a_public_ipv4_pass(address):
    assert is_public(address)


def test_allow_list_names_one_host_and_keeps_metadata_refused():
    """Issue 13: `--allow-private` allowed every private address; now it names the hosts allowed."""
    from crawler.netguard import allowed_addresses

    allowed = allowed_addresses(
        ["127.0.0.1", "[::1]", "localhost.test"], fake_dns({"localhost.test": ["10.9.9.9"]})
    )
    assert allowed == {"127.0.0.1", "::1", "10.9.9.9"}
    for url in ("http://127.0.0.1/a.jpg", "http://[0:0::1]/a.jpg", "http://10.9.9.9/a.jpg"):
        check_url(url, allow_private=allowed)
    for url in ("http://169.254.169.254/", "http://[64:ff9b::a9fe:a9fe]/", "http://10.0.0.1/"):
        with pytest.raises(Refused, match="private-address"):
            check_url(url, allow_private=allowed)


@pytest.mark.parametrize(
    "url", ["http://[::1/a.jpg", "http://[::1", "http://host:99999/a.jpg", "http://h:x/"]
)
def test_malformed_urls_are_refused_not_raised(url):
    """Issue 13: urlsplit's ValueError escaped check_url."""
    with pytest.raises(Refused) as info:
        check_url(url, allow_private=True)
    assert info.value.reason == "bad-url"


@pytest.mark.parametrize(
    "given", ["http://127.0.0.1:8080", "127.0.0.1:8080", "", " ", "[::1]:80", "host/path", "a..b"]
)
def test_allow_private_refuses_what_would_allow_nothing(given):
    """Issue 27: a URL, a port or '' were accepted and allowed nothing; the crawl then
    advised the option the user had just given."""
    with pytest.raises(ValueError, match="an IP address or a host name"):
        parse_allowed_host(given)


def test_allow_private_takes_addresses_and_host_names():
    assert parse_allowed_host("127.0.0.1") == "127.0.0.1"
    assert parse_allowed_host("[::1]") == "::1" and parse_allowed_host("::1") == "::1"
    assert parse_allowed_host("localhost") == "localhost"
    assert parse_allowed_host("test-host.lan.") == "test-host.lan"


def test_crawl_refuses_a_bad_allow_private_before_fetching(tmp_path):
    from typer.testing import CliRunner

    from crawler.cli import app

    args = ["--class", "Air_Max_1", "--allow-private", "http://127.0.0.1:8080"]
    result = CliRunner().invoke(app, [*args, "--catalog", str(tmp_path / "c.db")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "--allow-private takes an IP address or a host name" in result.output
    assert not (tmp_path / "c.db").exists()  # refused before the catalog was opened
