"""File helpers: atomic writes (a reader never sees a half-written file, and a crash never
leaves one) and safe torch loading (a file is read as plain data only, never run as code)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from xpm_bench.errors import PopulationFileError, XpmBenchError


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as handle:  # the data is on disk before the rename makes it visible
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes 0600; use normal permissions
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> None:
    """Call ``write(tmp_path)`` and move the result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        write(tmp)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write(
        path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    )


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it becomes ``path`` in one rename.

    ``path`` must not exist yet (a folder is never replaced). On any exception the temporary
    folder is removed and nothing appears at ``path``.
    """
    target = Path(path)
    if target.exists():
        raise FileExistsError(f"{target} already exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        for file in tmp.rglob("*"):
            if file.is_file():
                with open(file, "rb+") as handle:
                    os.fsync(handle.fileno())
        os.chmod(tmp, 0o777 & ~_current_umask())  # mkdtemp makes 0700
        os.rename(tmp, target)  # never merges: a non-empty folder that appeared meanwhile fails
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def safe_torch_load(
    path: str | os.PathLike,
    what: str = "population file",
    error: type[XpmBenchError] = PopulationFileError,
) -> Any:
    """``torch.load(weights_only=True)`` with every failure turned into one clear message.

    ``what`` names the file in messages ("population file", "checkpoint", ...) and ``error``
    is the :class:`~xpm_bench.errors.XpmBenchError` subclass raised.
    """
    path = Path(path)
    if not path.exists():
        raise error(f"{what} {str(path)!r} does not exist")
    if not path.is_file():
        raise error(f"{what} {str(path)!r} is not a file")
    if path.stat().st_size == 0:
        raise error(f"{what} {str(path)!r} is empty")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as failure:
        # torch's weights-only unpickler names the disallowed class it met (a GLOBAL: "Unsupported
        # global", "unsupported GLOBAL posix.system"); any other unpickling failure ("Unsupported
        # operand") means bytes that are not a plain-data torch file
        if "global" in str(failure).lower():
            raise error(
                f"{what} {str(path)!r} refused: it contains objects other than plain data "
                f"(tensors, numbers, strings, lists, dicts), which could run code on load"
            ) from None
        raise error(f"{what} {str(path)!r} is not a torch file (unreadable data)") from None
    except Exception as failure:  # noqa: BLE001  any other failure inside torch.load: damaged file
        text = str(failure).strip()
        reason = text.splitlines()[0] if text else type(failure).__name__
        raise error(f"{what} {str(path)!r} is truncated or corrupt ({reason})") from None


def sha256_json(data: Any) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``data`` (sorted keys, no spaces, no NaN):
    the fingerprint of plain settings (protocols, holdout recipes) and holdout contents."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def tensor_digest(tensor: torch.Tensor) -> dict[str, Any]:
    """dtype, shape and the SHA-256 of a tensor's bytes (plain data, for content hashes)."""
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    raw = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
    return {
        "dtype": str(tensor.dtype),
        "shape": list(tensor.shape),
        "sha256": hashlib.sha256(raw).hexdigest(),
    }
