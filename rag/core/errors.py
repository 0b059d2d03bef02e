"""The one exception type for problems a user can cause or fix."""


class RagError(Exception):
    """A user-facing error whose message says what went wrong and what to do."""


class IndexBusy(RagError):
    """Another ingest holds the index's write lock."""


class StoreBusy(RagError):
    """Another process has held the embedded store for longer than a reader or writer waits."""
