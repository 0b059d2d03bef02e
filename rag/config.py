"""Settings: one pydantic-settings object, read from `RAG_*` environment variables."""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import shutil
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Files that ship inside the package, found with importlib.resources: the prompt templates and
# the five demo articles. In a checkout these are links to the project's prompts/ and seeds/.
_PACKAGE = Path(str(importlib.resources.files("rag")))
PROMPTS_DIR = _PACKAGE / "prompt_templates"
DEMO_CORPUS = _PACKAGE / "demo"
# The checkout, when running from one (an editable install); in a wheel install, site-packages.
PROJECT_DIR = _PACKAGE.parent
_CHECKOUT_SEEDS = PROJECT_DIR / "seeds"

LocalModel = Literal["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"]


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rag"


def data_dir() -> Path:
    """Where indexes (and the demo corpus of an installed package) live: the user's data directory."""
    return platformdirs.user_data_path("rag", appauthor=False)


def default_corpus() -> Path:
    """The demo articles: `seeds/` in a checkout; in an installed package, a copy in the user's data
    directory, so that uploads never write into site-packages."""
    if (PROJECT_DIR / "pyproject.toml").is_file() and _CHECKOUT_SEEDS.is_dir():
        return _CHECKOUT_SEEDS
    copy = data_dir() / "demo"
    try:
        if not copy.is_dir():
            staging = copy.with_name(f".demo-{os.getpid()}")
            shutil.copytree(DEMO_CORPUS, staging, dirs_exist_ok=True)
            staging.rename(copy)
    except OSError:
        if not copy.is_dir():
            return DEMO_CORPUS  # read-only home: read the packaged copy in place
    return copy


def default_index(corpus: Path) -> Path:
    """One index folder per corpus folder, named after it, under the user's data directory."""
    where = corpus.expanduser().resolve()
    key = hashlib.sha256(str(where).encode()).hexdigest()[:10]
    name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in where.name)[:40] or "corpus"
    return data_dir() / "indexes" / f"{name}-{key}"


class Settings(BaseSettings):
    """Everything that changes what the system indexes, retrieves or says."""

    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore")

    # Where things live
    corpus_dir: Path = Field(
        default_factory=default_corpus,
        description="Folder of articles indexed by default (the demo articles when unset).",
    )
    index_dir: Path = Field(
        # no default here: _index_follows_corpus fills it in from corpus_dir
        description="Folder of the embedded Chroma store; unset means one folder per corpus under the user's "
        "data directory.",
    )
    model_dir: Path = Field(_cache_dir() / "models", description="Cache of assembled GGUF model files.")
    chroma_url: str | None = Field(None, description="Chroma server URL (http://host:port); unset means embedded.")
    chroma_database: str = Field(
        "default_database", description="Database on the Chroma server (created on first use); server mode only."
    )

    # Serving (rag serve; see rag/access.py)
    serve_auth: SecretStr | None = Field(
        None,
        description="Logins for rag serve, user:password pairs separated by commas; required for uploads "
        "and deletes off loopback.",
    )
    serve_hostnames: str | None = Field(
        None, description="Host names rag serve answers to, comma-separated (besides the one it listens on)."
    )

    # Chunking and embedding: these name the collection, so changing them never mixes vectors
    embed_model: str = Field("all-MiniLM-L6-v2", description="Sentence-transformers model (bundled package).")
    embed_batch_size: int = Field(64, ge=1, description="Texts per encoder batch during ingest.")
    chunk_max_words: int = Field(110, ge=10, description="Upper bound of words per chunk.")
    chunk_overlap_sentences: int = Field(1, ge=0, description="Sentences shared by neighbouring chunks.")

    # Retrieval and evidence
    top_k: int = Field(10, ge=1, le=50, description="Chunks kept after fusing dense and BM25 results.")
    candidates_per_retriever: int = Field(12, ge=1, description="Chunks each retriever contributes to fusion.")
    passage_chunks: int = Field(
        4, ge=1, le=20, description="Best retrieved chunks shown to the LLM, as passages of numbered sentences."
    )
    passage_window: int | None = Field(
        1,
        ge=0,
        description="Sentences kept either side of each passage chunk's sentence most relevant to the question; "
        "unset shows whole chunks.",
    )
    evidence_sentences: int = Field(24, ge=1, le=60, description="Most passage sentences shown to the LLM.")
    min_support: float = Field(
        0.65,
        ge=0.0,
        le=1.0,
        description="The LLM's P(yes) that cited sentences state a claim, at or above which the claim is kept "
        "(set on the dev half of eval/judge_pairs.jsonl).",
    )

    min_answers: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="The LLM's P(yes) that an answer's cited sentences answer the question, below which the "
        "answer is refused (0 switches the check off). 0.3 is the highest that cost no right answer on dev.",
    )
    quote_similarity: float = Field(
        0.6,
        ge=-1.0,
        le=1.0,
        description="With the LLM backend down, evidence sentences at least this close to the question (MiniLM "
        "cosine) are quoted as a retrieval-only answer; below it the answer is the refusal.",
    )

    # Generation
    llm: LocalModel = Field("qwen2.5-coder-1.5b", description="Bundled local model used when no llm_url is set.")
    llm_url: str | None = Field(None, description="OpenAI-compatible server base URL (e.g. http://127.0.0.1:8080/v1).")
    llm_model: str | None = Field(None, description="Model name sent to the OpenAI-compatible server.")
    llm_api_key: str | None = Field(None, description="API key for the OpenAI-compatible server, if it needs one.")
    llm_threads: int = Field(os.cpu_count() or 2, ge=1, description="CPU threads for llama.cpp.")
    llm_context: int = Field(2048, ge=512, description="llama.cpp context window in tokens.")
    max_tokens: int = Field(160, ge=16, description="Upper bound of generated tokens per answer.")
    llm_check_context: int = Field(
        1024, ge=256, description="llama.cpp context window of the claim checks (a context of its own)."
    )

    @model_validator(mode="before")
    @classmethod
    def _index_follows_corpus(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("index_dir") in (None, ""):
            corpus = data.get("corpus_dir")
            data = {**data, "index_dir": default_index(Path(corpus) if corpus else default_corpus())}
        return data

    @property
    def collection_name(self) -> str:
        """Name the collection after what shapes its vectors."""
        key = f"{self.embed_model}|{self.chunk_max_words}|{self.chunk_overlap_sentences}|v1"
        return "articles-" + hashlib.sha256(key.encode()).hexdigest()[:12]
