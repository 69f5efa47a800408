"""`curate serve`: a local web app for reviewing a catalog in the browser.

A thumbnail grid of every image (filtered by class, status, quality flag, source, query
and split side; paged), decisions from the keyboard and the mouse on one or many images,
near-duplicate groups and label conflicts side by side, an audit's flags worst first,
and training runs with an interactive confusion matrix.

Why it lives inside `curation`: it is a curation command, and its writes are review
decisions that must go through `curation.review` (the functions `curate review` calls),
so that the review rows and history are the same and both apps can work on one catalog
at once. The import rules (tests/test_import_graph.py) let only `curation` itself import
`curation`; runs are read from the catalog (their rows, predictions and the figures they
recorded), so nothing here needs `trainer`.

Starlette serves it (uvicorn), Jinja2 renders the pages with autoescaping on, and a small
script of our own (`static/app.js`, no CDN) drives selection and keys. See `guard` for
what keeps other sites and other hosts out.
"""

from .app import create_app
from .server import serve

__all__ = ["create_app", "serve"]
