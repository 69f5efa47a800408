"""The crawler: search engines, the polite fetcher and crawl orchestration."""
