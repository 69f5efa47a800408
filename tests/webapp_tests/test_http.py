"""`curate serve` over HTTP (Starlette's TestClient): every page renders with web text
escaped, decisions write the same review rows as `curate review`, and the guard refuses
foreign hosts and origins, token-less writes, oversize bodies and anything but a sha256."""

from __future__ import annotations

import re

import pytest
from webapp_tests.conftest import TOKEN
from webapp_tests.webcat import HOSTILE_QUERY, build

from catalog import get_image, open_catalog, open_conflicts
from catalog.reviews import review_history
from curation import review as review_lib
from curation.web import app as web_app
from curation.web.actions import MAX_IDS
from curation.web.guard import MAX_BODY

WRITE = {"x-token": TOKEN}


def state(path, image_id: int) -> tuple:
    with open_catalog(path) as cat:
        row = get_image(cat, image_id)
        return row["status"], row["class"], len(review_history(cat, image_id))


def cell_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-id="(\d+)"', html)]


def decide(client, action: str, ids: list[int], **extra):
    return client.post("/api/decide", json={"action": action, "ids": ids, **extra}, headers=WRITE)


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/?flag=any&status=pending",
        "/groups",
        "/conflicts",
        "/audit",
        "/runs",
        "/runs/1",
        "/runs/1/predictions",
        "/image/1",
        "/cells?offset=10",
    ],
)
def test_every_page_renders_with_its_security_headers(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert "<script>" not in response.text  # only <script src="/static/app.js">


def test_web_text_is_escaped_and_controls_made_visible(client, web_catalog):
    _, info = web_catalog
    html = client.get(f"/image/{info['hostile']}").text
    assert "&lt;script&gt;alert(&#39;q&#39;)&lt;/script&gt; [/y] \\x1b[31mred" in html
    assert "\x1b" not in html and "<script>alert" not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html  # a reason
    assert "&#34;&gt;&lt;img src=x onerror" in html  # a title
    assert 'href="javascript:' not in html  # a stored URL that is not http(s) is text only
    gallery = client.get("/", params={"query": HOSTILE_QUERY}).text
    assert cell_ids(gallery) == [info["hostile"]] and "<script>alert" not in gallery


def test_gallery_filters_and_pages(client, web_catalog):
    _, info = web_catalog
    assert cell_ids(client.get("/?class=Yeezy_500&status=duplicate").text) == info["dups"]
    assert cell_ids(client.get("/?subset=none").text) == [info["hostile"]]
    first = cell_ids(client.get("/?limit=10").text)
    more = cell_ids(client.get("/cells?limit=10&offset=10").text)
    assert len(first) == len(more) == 10 and not set(first) & set(more)
    assert 'rel="next"' in client.get("/?limit=10").text


def test_page_sizes_are_capped(client, monkeypatch):
    monkeypatch.setattr(web_app, "MAX_PAGE", 7)  # the cap, made smaller than the catalog
    assert len(cell_ids(client.get("/?limit=100000").text)) == 7
    assert len(cell_ids(client.get("/cells?limit=100000").text)) == 7
    assert len(cell_ids(client.get("/?limit=-5").text)) == 7  # a bad size: the default, capped


def test_decisions_write_what_the_terminal_app_writes(client, web_catalog):
    """The same review rows as `curation.review` (what `curate review` calls), per image."""
    path, info = web_catalog
    a, b, c = info["ids"]["Yeezy_350"][1:4]
    assert decide(client, "accept", [a]).status_code == 200
    assert decide(client, "reject", [b], reason="a box").status_code == 200
    assert decide(client, "relabel", [c], **{"class": "Yeezy_500"}).status_code == 200
    with open_catalog(path) as cat:
        web = [review_history(cat, i)[-1] for i in (a, b, c)]
    # The same decisions through the library, on a second copy of the same catalog.
    other = path.parent / "other" / "catalog.db"
    other.parent.mkdir()
    build(other)
    with open_catalog(other) as cat:
        review_lib.accept(cat, a)
        review_lib.reject(cat, b, "a box")
        review_lib.relabel(cat, c, "Yeezy_500")
        lib = [review_history(cat, i)[-1] for i in (a, b, c)]
    drop = ("id", "at")
    assert [{k: v for k, v in r.items() if k not in drop} for r in web] == [
        {k: v for k, v in r.items() if k not in drop} for r in lib
    ]


def test_many_at_once_is_all_or_none(client, web_catalog):
    path, info = web_catalog
    ids = info["ids"]["Yeezy_350"][1:4]
    response = decide(client, "relabel", ids, **{"class": "No_Such_Class"})
    assert response.status_code == 400 and "No_Such_Class" in response.json()["error"]
    assert [state(path, i)[1:] for i in ids] == [("Yeezy_350", 0)] * 3
    response = decide(client, "accept", [*ids, 99_999])
    assert response.status_code == 400 and [state(path, i)[2] for i in ids] == [0, 0, 0]


def test_undo_takes_back_only_this_tabs_decisions(client, web_catalog):
    path, info = web_catalog
    x, y = info["ids"]["Yeezy_350"][1:3]
    mine = decide(client, "accept", [x, y]).json()["reviews"]
    decide(client, "reject", [y])  # another tab (or the terminal app) decided y since
    response = client.post("/api/undo", json={"reviews": mine}, headers=WRITE)
    body = response.json()
    assert response.status_code == 200 and len(body["refused"]) == 1
    assert state(path, x)[0] == "pending" and state(path, y)[0] == "rejected"
    with open_catalog(path) as cat:
        assert [r["action"] for r in review_history(cat, x)] == ["accept", "undo"]


def test_a_conflict_moved_and_an_audit_suggestion_taken(client, web_catalog):
    path, info = web_catalog
    assert decide(client, "move", [info["conflicted"]]).status_code == 200
    assert state(path, info["conflicted"])[:2] == ("accepted", "Yeezy_500")
    with open_catalog(path) as cat:
        assert open_conflicts(cat) == []
    first, off_topic = info["flagged"][:2]
    assert decide(client, "suggest", [first, off_topic], audit=info["audit"]).status_code == 200
    assert state(path, first)[:2] == ("accepted", "Yeezy_350")
    assert state(path, off_topic)[0] == "rejected"
    assert decide(client, "move", [first]).status_code == 400  # no conflict to move it by
    html = client.get("/audit").text
    assert html.count('class="decided"') == 2 and "1 still open" in html


def test_groups_show_the_kept_image_first_and_why(client, web_catalog):
    _, info = web_catalog
    html = client.get("/groups").text
    assert cell_ids(html) == [info["keeper"], *info["dups"]]
    assert "kept: the largest" in html and "phash duplicate, distance 4" in html


def test_a_confusion_cell_links_to_its_test_images(client, web_catalog):
    _, info = web_catalog
    html = client.get(f"/runs/{info['run']}").text
    link = re.search(r'href="(/runs/1/predictions\?true=Air_Max_90&amp;predicted=Yeezy_350)"', html)
    assert link, html
    cell = client.get(link.group(1).replace("&amp;", "&")).text
    assert cell_ids(cell) == info["ids"]["Air_Max_90"][5:7]
    assert "true Air_Max_90 · predicted Yeezy_350 · 2 images" in cell
    assert "<polyline" in html and "val_loss" in html  # the training curves


# --- the guard -------------------------------------------------------------------------


def test_a_foreign_host_is_refused_for_reads_and_writes(client, web_catalog):
    path, info = web_catalog
    image_id = info["ids"]["Yeezy_350"][1]
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400
    assert client.get("/", headers={"host": "evil.example:8000"}).status_code == 400
    response = client.post(
        "/api/decide",
        json={"action": "reject", "ids": [image_id]},
        headers={**WRITE, "host": "evil.example"},
    )
    assert response.status_code == 400 and state(path, image_id) == ("pending", "Yeezy_350", 0)
    assert client.get("/", headers={"host": "localhost:1234"}).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-token": "wrong"},
        {"x-token": ""},
        {**WRITE, "origin": "http://evil.example"},
        {**WRITE, "origin": "null"},
        {**WRITE, "sec-fetch-site": "cross-site"},
        {**WRITE, "sec-fetch-site": "same-site"},
    ],
)
def test_a_write_without_the_token_or_from_another_origin_changes_nothing(
    client, web_catalog, headers
):
    path, info = web_catalog
    image_id = info["ids"]["Yeezy_350"][1]
    response = client.post(
        "/api/decide", json={"action": "reject", "ids": [image_id]}, headers=headers
    )
    assert response.status_code == 403
    assert state(path, image_id) == ("pending", "Yeezy_350", 0)


def test_a_same_origin_write_with_the_token_goes_through(client, web_catalog):
    path, info = web_catalog
    image_id = info["ids"]["Yeezy_350"][1]
    headers = {**WRITE, "origin": "http://127.0.0.1", "sec-fetch-site": "same-origin"}
    response = client.post(
        "/api/decide", json={"action": "reject", "ids": [image_id]}, headers=headers
    )
    assert response.status_code == 200 and state(path, image_id)[0] == "rejected"


def test_oversize_requests_are_refused(client, web_catalog):
    path, info = web_catalog
    image_id = info["ids"]["Yeezy_350"][1]
    padding = "x" * (MAX_BODY + 10)
    body = {"action": "reject", "ids": [image_id], "reason": padding}
    assert client.post("/api/decide", json=body, headers=WRITE).status_code == 413

    def chunks():  # no Content-Length: the body is counted as it arrives
        yield b'{"action": "reject", "ids": [%d], "reason": "' % image_id
        for _ in range(MAX_BODY // 1024 + 2):
            yield b"x" * 1024
        yield b'"}'

    assert client.post("/api/decide", content=chunks(), headers=WRITE).status_code == 413
    too_many = decide(client, "accept", list(range(1, MAX_IDS + 2)))
    assert too_many.status_code == 400 and "at most" in too_many.json()["error"]
    assert state(path, image_id) == ("pending", "Yeezy_350", 0)


@pytest.mark.parametrize(
    "ids", [["images/aa/x.jpg"], ["../catalog.db"], [True], [1.5], [], "1", [-1]]
)
def test_a_decision_names_images_by_id_only(client, web_catalog, ids):
    path, info = web_catalog
    response = client.post("/api/decide", json={"action": "reject", "ids": ids}, headers=WRITE)
    assert response.status_code == 400
    with open_catalog(path) as cat:
        assert all(not review_history(cat, i) for i in info["ids"]["Yeezy_350"])


@pytest.mark.parametrize(
    "url",
    [
        "/thumb/../catalog.db",
        "/thumb/..%2Fcatalog.db",
        "/thumb/..%2F..%2Fetc%2Fpasswd",
        "/img/%2e%2e%2fcatalog.db",
        "/img/catalog.db",
        "/img/" + "A" * 64,
        "/img/" + "0" * 64,
        "/static/../catalog.db",
        "/static/..%2Fcatalog.db",
        "/runs/1/figure/..%2F..%2Fcatalog.db",
        "/runs/1/figure/confusion.json",
        "/runs/1/figure/model.keras",
    ],
)
def test_files_are_served_by_sha256_only(client, url):
    response = client.get(url)
    assert response.status_code == 404, (url, response.status_code)
    assert b"SQLite format" not in response.content


def test_an_image_path_finds_nothing_but_its_sha256_does(client, web_catalog):
    path, info = web_catalog
    with open_catalog(path) as cat:
        row = get_image(cat, info["ids"]["Yeezy_350"][1])
    assert client.get(f"/img/{row['path']}").status_code == 404
    assert client.get(f"/thumb/{row['path']}").status_code == 404
    full = client.get(f"/img/{row['sha256']}")
    assert full.status_code == 200 and full.content == (path.parent / row["path"]).read_bytes()
    assert client.get(f"/thumb/{row['sha256']}").headers["content-type"] == "image/jpeg"


def test_get_cannot_write(client, web_catalog):
    path, info = web_catalog
    image_id = info["ids"]["Yeezy_350"][1]
    assert (
        client.get("/api/decide", params={"action": "reject", "ids": image_id}).status_code == 405
    )
    assert state(path, image_id) == ("pending", "Yeezy_350", 0)
