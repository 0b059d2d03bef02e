"""Settings: one pydantic-settings object, read from `RAG_*` environment variables."""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import shutil
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, Field, SecretStr, model_validator
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


class Chunking(BaseModel):
    """How articles are cut into chunks. These name the collection, so changing them never mixes vectors."""

    max_words: int = Field(110, ge=10, description="Upper bound of words per chunk.")
    overlap_sentences: int = Field(1, ge=0, description="Sentences shared by neighbouring chunks.")


class Ingest(BaseModel):
    """Embedding and duplicate marking at ingest."""

    embed_batch_size: int = Field(64, ge=1, description="Texts per encoder batch.")
    duplicate_similarity: float = Field(
        0.75,
        ge=0.0,
        le=1.0,
        description="How fully two articles cover each other in meaning (mean best-match cosine of their chunks, "
        "the weaker way), at or above which two that state the same names and figures, none swapped, are one "
        "report and the later is left out of retrieval. It decides no pair of the seeds or the RGB corpora: "
        "every pair stating the same facts there scores 0.83 or more (docs/how-it-works.md).",
    )


class Retrieval(BaseModel):
    """Dense and BM25 search, fused."""

    top_k: int = Field(10, ge=1, le=50, description="Chunks kept after fusing dense and BM25 results.")
    candidates_per_retriever: int = Field(12, ge=1, description="Chunks each retriever contributes to fusion.")
    rrf_k: float = Field(
        60.0, gt=0.0, description="Reciprocal rank fusion's constant (the value of Cormack et al., 2009)."
    )


class Evidence(BaseModel):
    """What of the retrieved chunks the LLM is shown."""

    passage_chunks: int = Field(
        4, ge=1, le=20, description="Best retrieved chunks shown to the LLM, as passages of numbered sentences."
    )
    passage_window: int | None = Field(
        1,
        ge=0,
        description="Sentences kept either side of each passage chunk's sentence most relevant to the question; "
        "unset shows whole chunks.",
    )
    max_sentences: int = Field(24, ge=1, le=60, description="Most passage sentences shown to the LLM.")


class Answering(BaseModel):
    """The draft, its checks, and when the answer is the refusal."""

    max_tokens: int = Field(160, ge=16, description="Upper bound of generated tokens per answer.")
    constrained: bool = Field(
        False,
        description="Generate the draft under a grammar of the reply format (rag.answer.compose.answer_grammar), "
        "where the model backend supports one (the embedded llama.cpp does). Off: on dev it answered more, "
        "right and wrong, refused fewer unanswerable questions and took 16% longer (docs/how-it-works.md).",
    )
    max_claims: int = Field(
        3, ge=1, description="Draft sentences read; the prompt asks for one to three, so a copied passage ends there."
    )
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
    min_relevance: float = Field(
        0.15,
        ge=0.0,
        le=1.0,
        description="The LLM's P(yes) that the answer's words give what the question asks for, below which the "
        "answer is refused (0 switches the check off). On dev the lowest right answer scores 0.18; 0.15 costs none.",
    )
    asked_kind: bool = Field(
        True,
        description="Refuse an answer that names no thing of the kind its question asks for: a date or time "
        "(when), a number (how many, how much) or a length of time (how long), by spaCy's "
        "entities (rag.verify.asked).",
    )
    recite_candidates: int = Field(
        1,
        ge=0,
        description="Other passage sentences, closest in meaning first, a claim whose own citations fail is "
        "checked against (one model call each).",
    )
    direct_candidates: int = Field(
        2,
        ge=0,
        description="Sentences closest to the question, of those that could answer it, checked for a direct answer "
        "before refusing.",
    )
    figure_candidates: int = Field(
        2,
        ge=0,
        description="Passage sentences, closest to the question first, that give another value of a figure the "
        "answer states and are asked whether they answer the question too (one model call each; 0 switches off).",
    )
    closest_shown: int = Field(3, ge=0, description="Closest sentences shown with a refusal.")
    variant_ratio: float = Field(
        0.75,
        ge=0.0,
        le=1.0,
        description="Word-level similarity (difflib's ratio) at or above which two sentences of different "
        "articles are one report told two ways; where they differ in a word the answer uses, both are quoted.",
    )
    quote_similarity: float = Field(
        0.6,
        ge=-1.0,
        le=1.0,
        description="With the LLM backend down, evidence sentences at least this close to the question (MiniLM "
        "cosine) are quoted as a retrieval-only answer; below it the answer is the refusal.",
    )
    retrieval_only_sentences: int = Field(3, ge=1, description="Most sentences a retrieval-only answer quotes.")


class Conversation(BaseModel):
    """Follow-up questions in a chat session."""

    history_turns: int = Field(3, ge=0, description="Earlier turns a follow-up question is read with.")
    answer_words: int = Field(30, ge=1, description="Words of each earlier answer shown to the rewrite.")
    rewrite_max_tokens: int = Field(48, ge=8, description="Upper bound of tokens of a rewritten question.")
    rewrite_max_chars: int = Field(
        300, ge=20, description="A rewrite longer than this is not a question; the question is kept as asked."
    )


# Variables of settings that now sit in a group: setting the old name is an error, not ignored.
MOVED = {
    f"RAG_{old}": f"RAG_{group}__{new}"
    for old, group, new in [
        ("CHUNK_MAX_WORDS", "CHUNKING", "MAX_WORDS"),
        ("CHUNK_OVERLAP_SENTENCES", "CHUNKING", "OVERLAP_SENTENCES"),
        ("EMBED_BATCH_SIZE", "INGEST", "EMBED_BATCH_SIZE"),
        ("TOP_K", "RETRIEVAL", "TOP_K"),
        ("CANDIDATES_PER_RETRIEVER", "RETRIEVAL", "CANDIDATES_PER_RETRIEVER"),
        ("PASSAGE_CHUNKS", "EVIDENCE", "PASSAGE_CHUNKS"),
        ("PASSAGE_WINDOW", "EVIDENCE", "PASSAGE_WINDOW"),
        ("EVIDENCE_SENTENCES", "EVIDENCE", "MAX_SENTENCES"),
        ("MIN_SUPPORT", "ANSWER", "MIN_SUPPORT"),
        ("MIN_ANSWERS", "ANSWER", "MIN_ANSWERS"),
        ("QUOTE_SIMILARITY", "ANSWER", "QUOTE_SIMILARITY"),
        ("MAX_TOKENS", "ANSWER", "MAX_TOKENS"),
    ]
}


class Settings(BaseSettings):
    """Everything that changes what the system indexes, retrieves or says.

    Each field reads a `RAG_` variable: `RAG_CORPUS_DIR`, and for the groups two underscores,
    `RAG_ANSWER__MIN_SUPPORT=0.7`.
    """

    model_config = SettingsConfigDict(env_prefix="RAG_", env_nested_delimiter="__", extra="ignore")

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

    # Serving (rag serve; see rag/interfaces/access.py)
    serve_auth: SecretStr | None = Field(
        None,
        description="Logins for rag serve, user:password pairs separated by commas; required for uploads "
        "and deletes off loopback.",
    )
    serve_hostnames: str | None = Field(
        None, description="Host names rag serve answers to, comma-separated (besides the one it listens on)."
    )

    # Models
    embed_model: str = Field("all-MiniLM-L6-v2", description="Sentence-transformers model (bundled package).")
    llm: LocalModel = Field("qwen2.5-coder-1.5b", description="Bundled local model used when no llm_url is set.")
    llm_url: str | None = Field(None, description="OpenAI-compatible server base URL (e.g. http://127.0.0.1:8080/v1).")
    llm_model: str | None = Field(None, description="Model name sent to the OpenAI-compatible server.")
    llm_api_key: str | None = Field(None, description="API key for the OpenAI-compatible server, if it needs one.")
    llm_threads: int = Field(os.cpu_count() or 2, ge=1, description="CPU threads for llama.cpp.")
    llm_context: int = Field(2048, ge=512, description="llama.cpp context window in tokens.")
    llm_check_context: int = Field(
        1024, ge=256, description="llama.cpp context window of the claim checks (a context of its own)."
    )
    llm_saved_heads: bool = Field(
        True,
        description="Keep the fixed system prompts, once computed, on disk under model_dir/heads, so that "
        "a new process restores them instead of computing them again.",
    )

    # The tuned parts, in groups
    chunking: Chunking = Field(default_factory=Chunking)
    ingest: Ingest = Field(default_factory=Ingest)
    retrieval: Retrieval = Field(default_factory=Retrieval)
    evidence: Evidence = Field(default_factory=Evidence)
    answer: Answering = Field(default_factory=Answering)
    conversation: Conversation = Field(default_factory=Conversation)

    @model_validator(mode="before")
    @classmethod
    def _no_moved_variables(cls, data: Any) -> Any:
        moved = sorted(old for old in MOVED if old in os.environ)
        if moved:
            names = ", ".join(f"{old} is now {MOVED[old]}" for old in moved)
            raise ValueError(f"settings moved into groups: {names}")
        return data

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
        key = f"{self.embed_model}|{self.chunking.max_words}|{self.chunking.overlap_sentences}|v1"
        return "articles-" + hashlib.sha256(key.encode()).hexdigest()[:12]
