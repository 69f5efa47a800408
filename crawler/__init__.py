"""The crawler: search engines, the polite fetcher and crawl orchestration.

- `engines/`: one module of pure functions per engine (search URL, page parser, wall
  detection); Google has a parser per markup it has served (`google_formats.py`).
- `search.py`: the engine registry (auto, google, google-browser, bing, duckduckgo): each
  entry turns a query into result pages, or reads a saved page.
- `fetch.py` + `netguard.py`: the Fetcher (worker pool, per-host limits, retries,
  byte/redirect caps, private-address refusal).
- `download.py`: one hit -> validated bytes (the original, else the page's thumbnail).
- `crawl.py`: pages -> hits -> downloads -> catalog rows, resumable; `cli.py`: `crawl`.
"""
