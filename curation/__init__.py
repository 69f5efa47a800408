"""Curation: import, hashing, dedup, quality flags, review, split and export."""
