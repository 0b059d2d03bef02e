"""Readers and writers of one embedded Chroma store, across processes.

Embedded Chroma is not built for several processes: a process that opens the store while another
writes it can find its files half-written, and a process whose open client predates another's
write holds a stale view (and would write from it). So every process that touches an embedded
store goes through its `StoreAccess`:

- a reader holds a shared lock (`flock` on `<index>/.store.lock`) for each read, a writer an
  exclusive one for each write, so no read ever overlaps a write;
- each write first leaves a new stamp in `<index>/.store.stamp`; a process whose client was
  opened before the current stamp drops the client and opens the store again, under the
  exclusive lock, before it reads or writes.

Writers hold the lock per write (one batch of files), not for a whole ingest, so `rag serve` and
`rag ask` keep answering during a long ingest, from the files that are wholly indexed. A Chroma
server coordinates its clients itself and needs none of this.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from rag.core.errors import StoreBusy

WAIT_SECONDS = 120.0  # longest wait for another process's read or write of the store

_ACCESS: dict[Path, StoreAccess] = {}
_REGISTRY_LOCK = threading.Lock()


def store_access(folder: Path, connect: Callable[[Path], Any], close: Callable[[Path], None]) -> StoreAccess:
    """The one StoreAccess of this process for the store in `folder`.

    `connect(folder)` opens a client on the store; `close(folder)` drops the process's cached
    state of it, so that the next `connect` reads the store from disk.
    """
    key = folder.resolve()
    with _REGISTRY_LOCK:
        if key not in _ACCESS:
            _ACCESS[key] = StoreAccess(key, connect, close)
        return _ACCESS[key]


class StoreAccess:
    """Shared/exclusive access to one embedded store, its client in this process, and the stamp of
    the last write that client reflects."""

    def __init__(self, folder: Path, connect: Callable[[Path], Any], close: Callable[[Path], None]) -> None:
        self.folder = folder
        self._connect = connect
        self._close = close
        self._client: Any = None
        self._lock_path = folder / ".store.lock"
        self._gate_path = folder / ".store.gate"
        self._stamp_path = folder / ".store.stamp"
        self._threads = threading.RLock()  # flock does not exclude the threads of one process
        self._handle: IO[str] | None = None
        self._gate: IO[str] | None = None
        self._mode = 0  # 0, fcntl.LOCK_SH or fcntl.LOCK_EX
        self._depth = 0
        self._seen: str | None = None  # the stamp the open client reflects
        self._changed = False  # a write happened inside the current exclusive hold
        self.epoch = 0  # bumped at every (re)open: collections fetched in an older epoch are stale

    @property
    def client(self) -> Any:
        """The process's client on the store, opened on first use; only valid inside `hold`."""
        if self._client is None:
            self._reopen()
        return self._client

    @contextmanager
    def hold(self, *, exclusive: bool, writes: bool = True) -> Iterator[None]:
        """Hold the store for a read (shared) or a write (exclusive); nested holds are cheap.

        The outermost hold first brings a stale client up to date. The first write (`writes`)
        inside an exclusive hold leaves a new stamp, so that every other process sees that the
        store changed, even if this one is killed during the write.
        """
        with self._threads:
            previous = self._mode
            wanted = fcntl.LOCK_EX if exclusive or previous == fcntl.LOCK_EX else fcntl.LOCK_SH
            if wanted != previous:
                self._flock(wanted)
            self._depth += 1
            try:
                if self._depth == 1 and self._client is not None and self.stamp() != self._seen:
                    self._catch_up()
                if exclusive and writes and not self._changed:
                    # Before the write, so that a writer killed mid-write still leaves a new stamp.
                    self._write_stamp()
                    self._changed = True
                yield
            finally:
                self._depth -= 1
                if wanted == fcntl.LOCK_EX and previous != fcntl.LOCK_EX:
                    self._changed = False
                if self._depth == 0:
                    self._flock(fcntl.LOCK_UN)
                elif wanted != previous:
                    self._flock(previous)

    def stamp(self) -> str:
        try:
            return self._stamp_path.read_text(encoding="ascii")
        except FileNotFoundError:
            return ""

    def close(self) -> None:
        """Drop the process's client; the next use opens the store again."""
        with self._threads:
            if self._client is not None:
                self._client = None
                self._close(self.folder)
                self.epoch += 1

    def _catch_up(self) -> None:
        """Reopen the store under the exclusive lock: another process wrote it since this client opened."""
        shared = self._mode == fcntl.LOCK_SH
        if shared:
            self._flock(fcntl.LOCK_EX)
        try:
            self._reopen()
        finally:
            if shared:
                self._flock(fcntl.LOCK_SH)

    def _reopen(self) -> None:
        """Drop the client and open the store again (opening may apply Chroma's log: a write)."""
        if self._mode != fcntl.LOCK_EX:
            with self.hold(exclusive=True, writes=False):
                self._reopen()
                return
        if self._client is not None:
            self._client = None
            self._close(self.folder)
        self._client = self._connect(self.folder)
        self._seen = self.stamp()
        self.epoch += 1

    def _write_stamp(self) -> None:
        value = uuid.uuid4().hex
        partial = self._stamp_path.with_name(f".store.stamp.{os.getpid()}")
        partial.write_text(value, encoding="ascii")
        partial.replace(self._stamp_path)
        self._seen = value

    def _flock(self, mode: int) -> None:
        """Take, convert or release the store lock, waiting at most WAIT_SECONDS.

        Taking it goes through a gate (a second lock, held only while waiting), so that a writer
        waiting for the readers of the moment holds back the readers that come after: a stream
        of overlapping reads can never starve a write.
        """
        store = self._open("_handle", self._lock_path)
        if mode == fcntl.LOCK_UN:
            fcntl.flock(store, fcntl.LOCK_UN)
        elif self._mode == fcntl.LOCK_EX and mode == fcntl.LOCK_SH:
            self._wait(store, fcntl.LOCK_SH)  # a downgrade: nobody else holds the store meanwhile
        else:
            if self._mode:
                fcntl.flock(store, fcntl.LOCK_UN)  # flock converts by releasing first anyway
                self._mode = 0
            gate = self._open("_gate", self._gate_path)
            self._wait(gate, fcntl.LOCK_EX)
            try:
                self._wait(store, mode)
            finally:
                fcntl.flock(gate, fcntl.LOCK_UN)
        self._mode = 0 if mode == fcntl.LOCK_UN else mode

    def _wait(self, handle: IO[str], mode: int) -> None:
        deadline, pause = time.monotonic() + WAIT_SECONDS, 0.002
        while True:
            try:
                fcntl.flock(handle, mode | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreBusy(
                        f"Another process has been writing the index {self.folder} for over {WAIT_SECONDS:.0f} s "
                        "(a stopped or hung `rag ingest`?); try again when it has finished."
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.1)

    def _open(self, attribute: str, path: Path) -> IO[str]:
        handle = getattr(self, attribute)
        if handle is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a+")  # noqa: SIM115 -- kept for the process's life
            setattr(self, attribute, handle)
        return handle
