"""Who may reach `rag serve`, and what they may change: logins, read-only mode, Host and Origin checks.

On loopback the server is one person's tool: no login, uploads and deletes allowed. Anywhere else
it is read-only unless logins are configured; with logins, every page and API call needs one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rag.core.errors import RagError

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_loopback(host: str) -> bool:
    """True for a host name or address that only this machine can reach."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def parse_logins(text: str, where: str) -> list[tuple[str, str]]:
    """Read `user:password` pairs, one per line or comma-separated; blank lines and `#` comments skipped."""
    logins = []
    for raw in text.replace(",", "\n").splitlines():
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        user, sep, password = entry.partition(":")
        if not sep or not user.strip() or not password:
            raise RagError(f"{where}: each login is user:password; {entry.split(':')[0]!r} has no password.")
        logins.append((user.strip(), password))
    if not logins:
        raise RagError(f"{where}: no user:password login found.")
    return logins


def read_logins(auth_file: Path | None, env_value: str | None) -> list[tuple[str, str]] | None:
    """Logins from `--auth-file` or RAG_SERVE_AUTH (the file wins); None when neither is given."""
    if auth_file is not None:
        try:
            return parse_logins(auth_file.read_text(encoding="utf-8"), str(auth_file))
        except OSError as exc:
            raise RagError(f"Cannot read the logins file {auth_file} ({exc.strerror}).") from exc
    if env_value:
        return parse_logins(env_value, "RAG_SERVE_AUTH")
    return None


@dataclass(frozen=True)
class Access:
    """What a served instance allows."""

    host: str
    logins: list[tuple[str, str]] | None
    writable: bool
    hostnames: frozenset[str]  # Host header names accepted; empty accepts any

    @classmethod
    def decide(
        cls,
        host: str,
        logins: list[tuple[str, str]] | None,
        *,
        read_only: bool = False,
        hostnames: Iterable[str] = (),
    ) -> Access:
        loopback = is_loopback(host)
        names = {n.strip().lower() for n in hostnames if n.strip()}
        if loopback:
            names |= LOOPBACK_NAMES
        elif names or host not in ("0.0.0.0", "::", ""):
            names |= {host.lower(), *LOOPBACK_NAMES}
        return cls(host, logins, writable=not read_only and (loopback or bool(logins)), hostnames=frozenset(names))

    def describe(self) -> str:
        mode = "uploads and deletes allowed" if self.writable else "read-only (no uploads or deletes)"
        login = f"{len(self.logins)} login(s) required" if self.logins else "no login"
        return f"{mode}; {login}"


class RequestGuard:
    """ASGI middleware: refuse requests for another Host (DNS rebinding) and cross-site writes (CSRF).

    A browser page from another site may send requests to this server, but its Origin header
    says where it came from: anything that is not a plain read must come from this server's own
    pages. Requests without an Origin (scripts, curl) are left to the login check.
    """

    def __init__(self, app: Any, hostnames: frozenset[str]) -> None:
        self.app = app
        self.hostnames = hostnames

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        problem = None
        if self.hostnames and _name(host) not in self.hostnames:
            problem = f"Host {host!r} is not served here"
        origin = headers.get("origin")
        method = scope.get("method", "GET")
        writes = scope["type"] == "websocket" or method not in SAFE_METHODS
        if problem is None and origin and writes and urlsplit(origin).netloc.lower() != host.lower():
            problem = f"requests from {origin} are not accepted"
        if problem is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = f"Forbidden: {problem}.".encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _name(host_header: str) -> str:
    """The host name of a Host header, without the port ("[::1]:7860" gives "::1")."""
    return (urlsplit(f"//{host_header}").hostname or "").lower()
