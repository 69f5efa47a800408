"""catalog.fetches: the crawler's record of every URL tried, and what the report reads."""

from __future__ import annotations

import pytest

from catalog.fetches import (
    FetchRecord,
    failure_counts,
    fetch_rows,
    record_fetch,
    record_fetches,
    tried_urls,
)
from crawler.hits import ImageHit
from crawler.report import CrawlReport


def test_latest_attempt_replaces_the_row(cat):
    record_fetch(
        cat,
        FetchRecord(
            "https://a.example/1.jpg",
            "Yeezy_350",
            "failed",
            engine="google",
            rank=3,
            http_status=503,
            error="http-503: Service Unavailable",
        ),
    )
    record_fetch(
        cat,
        FetchRecord(
            "https://a.example/1.jpg",
            "Yeezy_350",
            "stored",
            engine="google",
            rank=3,
            http_status=200,
            sha256="ab" * 32,
        ),
    )
    (row,) = fetch_rows(cat)
    assert (row["status"], row["http_status"], row["error"], row["sha256"], row["rank"]) == (
        "stored",
        200,
        None,
        "ab" * 32,
        3,
    )


def test_tried_urls_per_class_and_failure_groups(cat):
    record_fetches(
        cat,
        [
            FetchRecord("u1", "Yeezy_350", "stored"),
            FetchRecord("u2", "Yeezy_350", "failed", error="dns: cannot resolve x"),
            FetchRecord("u3", "Yeezy_350", "failed", error="dns: cannot resolve y"),
            FetchRecord("u4", "Yeezy_350", "failed", error="http-404: Not Found"),
            FetchRecord("u1", "Yeezy_500", "duplicate"),
        ],
    )
    assert tried_urls(cat, "Yeezy_350") == {"u1", "u2", "u3", "u4"}
    assert tried_urls(cat, "Yeezy_350", include_failed=False) == {"u1"}
    assert tried_urls(cat, "Air_Max_1") == set()
    assert failure_counts(cat, "Yeezy_350") == {"dns": 2, "http-404": 1}
    assert [r["url"] for r in fetch_rows(cat, "Yeezy_500")] == ["u1"]


def test_unknown_status_is_refused_and_nothing_is_written(cat):
    with pytest.raises(ValueError, match="use one of stored, duplicate, conflict, failed"):
        record_fetches(
            cat, [FetchRecord("u1", "Yeezy_350", "stored"), FetchRecord("u2", "Yeezy_350", "done")]
        )
    assert fetch_rows(cat) == []


def test_hit_keys():
    assert ImageHit(url="https://a/1.jpg", thumbnail_url="https://t/1").key == "https://a/1.jpg"
    assert ImageHit(url=None, thumbnail_url="https://t/1").key == "https://t/1"
    assert ImageHit(url=None, thumbnail_data=b"abc").key == (
        "thumbnail:sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert (
        ImageHit(url=None, thumbnail_path="./x_files/1.jpg").key == "thumbnail-file:./x_files/1.jpg"
    )


def test_report_summary():
    report = CrawlReport(
        "Yeezy_350", hits=100, tried=100, stored=20, thumbnails=20, pages=["p.html: format rg_meta"]
    )
    report.failures.update({"dns": 80})
    report.thumbnail_fallbacks.update({"dns": 20})
    assert report.summary().splitlines() == [
        "Yeezy_350: 100 hits parsed (0 already tried), 100 tried, 0 fetched, "
        "20 stored (20 as thumbnails), "
        "0 already in the catalog, 0 label conflicts",
        "  page p.html: format rg_meta",
        "  failures: dns 80",
        "  originals failed, thumbnail kept: dns 20",
    ]
