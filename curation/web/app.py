"""The routes of `curate serve`: pages rendered by Jinja2 (autoescaped), images by sha256,
and two JSON endpoints that write (a decision, an undo).

Each worker thread opens its own connection to the catalog (an SQLite connection belongs
to the thread that opened it); WAL and the busy timeout let the terminal app and other
commands work on the same catalog meanwhile.

Example:
    >>> app = create_app(Path("catalog.db"), token="...", hosts={"127.0.0.1"})  # doctest: +SKIP
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from catalog import (
    IMAGE_STATUSES,
    RUNS_FOLDER,
    Catalog,
    CatalogError,
    GalleryFilter,
    class_names,
    default_split,
    duplicate_group,
    gallery_facets,
    gallery_page,
    get_image,
    get_run,
    image_by_sha,
    image_cells,
    image_flags,
    image_history,
    list_runs,
    open_catalog,
    prediction_page,
    thumbnail_file,
)

from ..companion import companion_of
from ..errors import CurationError
from . import actions, views
from .guard import Guard

HERE = Path(__file__).parent
PAGE = 100  # images per page unless asked
MAX_PAGE = 200  # the most a request may ask for
GROUPS_PAGE = 30
FACETS_TTL_S = 30.0
FIGURES = ("confusion.png", "per_class.png", "predictions.png")


class CatalogPerThread:
    """One open catalog per worker thread, opened on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    def get(self) -> Catalog:
        cat = getattr(self._local, "cat", None)
        if cat is None:
            cat = self._local.cat = open_catalog(self.path)
        return cat


class Facets:
    """The values the gallery's filters offer, read at most every `ttl` seconds: four
    GROUP BYs over every image, for a list that changes only when images arrive."""

    def __init__(self, ttl: float = FACETS_TTL_S) -> None:
        self.ttl = ttl
        self._value: dict[str, list[str]] | None = None
        self._at = 0.0
        self._lock = threading.Lock()

    def get(self, cat: Catalog) -> dict[str, list[str]]:
        with self._lock:
            if self._value is None or time.monotonic() - self._at > self.ttl:
                self._value, self._at = gallery_facets(cat), time.monotonic()
            return self._value


def _int(request: Request, name: str, default: int, low: int = 0, high: int = 10**9) -> int:
    """A query parameter as an int clamped to [low, high]; `default` when absent or bad."""
    text = request.query_params.get(name, "")
    value = int(text) if text.isdigit() else default
    return max(low, min(high, value))


def _text(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    return value[:200] or None


def create_app(path: Path, *, token: str, hosts: Iterable[str]) -> Starlette:
    """The web app on the catalog at `path`, guarded (see `guard`) with `token` and `hosts`."""
    cats = CatalogPerThread(path)
    facets = Facets()
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_visible,
    )
    env.filters["url_ok"] = _web_url
    env.globals["query"] = _query

    def render(request: Request, name: str, status: int = 200, **context: object) -> HTMLResponse:
        cat = cats.get()
        html = env.get_template(name).render(
            request=request,
            token=token,
            classes=class_names(cat),
            catalog_name=cat.path.name,
            nav=request.url.path,
            **context,
        )
        return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})

    def page(handler: Callable[[Request, Catalog], Response]) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            try:
                return handler(request, cats.get())
            except (CatalogError, CurationError) as exc:
                return render(request, "error.html", 400, message=str(exc))

        return endpoint

    def gallery_filter(request: Request, cat: Catalog) -> GalleryFilter:
        subset = _text(request, "subset")
        return GalleryFilter(
            class_name=_text(request, "class"),
            status=_text(request, "status"),
            flag=_text(request, "flag"),
            source=_text(request, "source"),
            query=_text(request, "query"),
            split=(_text(request, "split") or default_split(cat)) if subset else None,
            subset=subset,
        )

    def gallery(request: Request, cat: Catalog) -> Response:
        limit = _int(request, "limit", PAGE, 1, MAX_PAGE)
        result = gallery_page(
            cat, gallery_filter(request, cat), offset=_int(request, "offset", 0), limit=limit
        )
        return render(
            request,
            "gallery.html",
            page=result,
            facets=facets.get(cat),
            statuses=IMAGE_STATUSES,
            params=_filter_params(request),
            limit=limit,
            previous_class=None,
        )

    def cells(request: Request, cat: Catalog) -> Response:
        """More cells of the gallery, for "load more" (an HTML fragment)."""
        limit = _int(request, "limit", PAGE, 1, MAX_PAGE)
        result = gallery_page(
            cat, gallery_filter(request, cat), offset=_int(request, "offset", 0), limit=limit
        )
        return render(
            request, "cells.html", page=result, previous_class=_text(request, "after_class")
        )

    def image_page(request: Request, cat: Catalog) -> Response:
        image_id = int(request.path_params["image_id"])
        row = get_image(cat, image_id)
        companion = companion_of(cat, row)
        return render(
            request,
            "image.html",
            row=row,
            this=image_cells(cat, [image_id])[0],
            flags=image_flags(row),
            group=image_cells(cat, duplicate_group(cat, image_id)),
            companion=companion,
            other=image_cells(cat, [companion.image_id])
            if companion and companion.image_id
            else [],
            history=image_history(cat, image_id),
        )

    def groups(request: Request, cat: Catalog) -> Response:
        offset = _int(request, "offset", 0)
        return render(request, "groups.html", page=views.duplicate_groups(cat, offset, GROUPS_PAGE))

    def conflicts(request: Request, cat: Catalog) -> Response:
        offset = _int(request, "offset", 0)
        return render(request, "conflicts.html", page=views.conflicts(cat, offset, GROUPS_PAGE))

    def audit(request: Request, cat: Catalog) -> Response:
        text = request.query_params.get("id", "")
        audit_id = int(text) if text.isdigit() else None
        limit = _int(request, "limit", PAGE, 1, MAX_PAGE)
        data = views.audit_page(cat, audit_id, _int(request, "offset", 0), limit)
        return render(request, "audit.html", **data)

    def runs(request: Request, cat: Catalog) -> Response:
        return render(request, "runs.html", runs=list_runs(cat))

    def run_page(request: Request, cat: Catalog) -> Response:
        run = get_run(cat, int(request.path_params["run_id"]))
        metrics = run["metrics"]
        figures = [name for name in FIGURES if _figure_path(cat, run, name) is not None]
        return render(
            request,
            "run.html",
            run=run,
            metrics=metrics,
            per_class=metrics.get("per_class") or {},
            confusion=views.confusion_grid(metrics),
            curves=views.curves(metrics),
            figures=figures,
        )

    def predictions(request: Request, cat: Catalog) -> Response:
        run = get_run(cat, int(request.path_params["run_id"]))
        limit = _int(request, "limit", PAGE, 1, MAX_PAGE)
        true, predicted = _text(request, "true"), _text(request, "predicted")
        result = prediction_page(
            cat,
            run["id"],
            true_class=true,
            predicted=predicted,
            offset=_int(request, "offset", 0),
            limit=limit,
        )
        return render(
            request,
            "predictions.html",
            run=run,
            page=result,
            true_class=true,
            predicted_class=predicted,
            params={"true": true, "predicted": predicted, "limit": limit},
        )

    def figure(request: Request) -> Response:
        name = request.path_params["name"]
        cat = cats.get()
        try:
            run = get_run(cat, int(request.path_params["run_id"]))
        except CatalogError:
            raise HTTPException(404) from None
        found = _figure_path(cat, run, name) if name in FIGURES else None
        if found is None:
            raise HTTPException(404)
        return FileResponse(found, media_type="image/png")

    async def thumb(request: Request) -> Response:
        # A cached thumbnail is found on the event loop's own connection (one indexed
        # lookup): a grid asks for a hundred at once, and a hop to a worker thread for each
        # took a third of the time. Only a thumbnail still to be made goes to a thread.
        sha = request.path_params["sha"]
        found = thumbnail_file(cats.get(), sha, make=False)
        if found is None:
            found = await run_in_threadpool(make_thumbnail, sha)
        return Response(  # a few KB: read whole, without FileResponse's thread hops
            found.read_bytes(),
            media_type="image/jpeg",
            headers={"cache-control": "private, max-age=86400"},
        )

    def make_thumbnail(sha: str) -> Path:
        try:
            made = thumbnail_file(cats.get(), sha)
        except OSError:
            raise HTTPException(404, "the image's file is missing from the store") from None
        if made is None:
            raise HTTPException(404)
        return made

    def full_image(request: Request) -> Response:
        found = image_by_sha(cats.get(), request.path_params["sha"])
        if found is None or not found[1].is_file():
            raise HTTPException(404)
        row, path = found
        return FileResponse(
            path,
            media_type=f"image/{row['format'].lower()}",
            headers={"cache-control": "private, max-age=86400"},
        )

    async def decide(request: Request) -> Response:
        return await _write(
            request, lambda cat, data: actions.decide(cat, actions.parse_decision(data))
        )

    async def undo(request: Request) -> Response:
        return await _write(request, lambda cat, data: actions.undo(cat, actions.parse_undo(data)))

    async def _write(
        request: Request, act: Callable[[Catalog, object], actions.Outcome]
    ) -> Response:
        from starlette.concurrency import run_in_threadpool

        try:
            data = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, status_code=400)

        def work() -> Response:
            try:
                outcome = act(cats.get(), data)
            except (CatalogError, CurationError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            return JSONResponse(
                {
                    "rows": outcome.rows,
                    "reviews": outcome.reviews,
                    "message": outcome.message,
                    "refused": outcome.refused,
                }
            )

        return await run_in_threadpool(work)

    routes = [
        Route("/", page(gallery)),
        Route("/cells", page(cells)),
        Route("/image/{image_id:int}", page(image_page)),
        Route("/groups", page(groups)),
        Route("/conflicts", page(conflicts)),
        Route("/audit", page(audit)),
        Route("/runs", page(runs)),
        Route("/runs/{run_id:int}", page(run_page)),
        Route("/runs/{run_id:int}/predictions", page(predictions)),
        Route("/runs/{run_id:int}/figure/{name}", figure),
        Route("/thumb/{sha}", thumb),
        Route("/img/{sha}", full_image),
        Route("/api/decide", decide, methods=["POST"]),
        Route("/api/undo", undo, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(Guard, token=token, hosts=hosts)  # type: ignore[arg-type]
    return app


def _figure_path(cat: Catalog, run: dict, name: str) -> Path | None:
    """A figure the CLI wrote for a run, from the run's recorded artefacts, only when it lies
    inside the catalog's runs folder."""
    rel = run["artifacts"].get(name.replace(".", "_"))
    if not isinstance(rel, str):
        return None
    path = (cat.root / rel).resolve()
    if not path.is_relative_to((cat.root / RUNS_FOLDER).resolve()) or not path.is_file():
        return None
    return path


_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F) if chr(c) not in "\n\t"}


def _visible(value: object) -> object:
    """Every printed value with its control characters shown (`\\x1b`), never sent raw."""
    return value.translate(_CONTROLS) if isinstance(value, str) else value


def _web_url(url: object) -> bool:
    """Whether a stored URL may be a link: http(s) only (never `javascript:`)."""
    return isinstance(url, str) and url.lower().startswith(("http://", "https://"))


def _filter_params(request: Request) -> dict[str, str]:
    keys = ("class", "status", "flag", "source", "query", "split", "subset", "limit")
    return {k: v for k in keys if (v := request.query_params.get(k, "").strip())}


def _query(params: dict, **changes: object) -> str:
    """`?a=1&b=2` from `params` with `changes` applied (None removes a key)."""
    merged = {k: v for k, v in {**params, **changes}.items() if v not in (None, "")}
    return "?" + urlencode(merged) if merged else "?"
