"""Ingest: bring the store in line with the corpus folder, file by file."""
