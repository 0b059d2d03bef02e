"""Retrieval: dense and BM25 search, fused, with date and file filters."""
