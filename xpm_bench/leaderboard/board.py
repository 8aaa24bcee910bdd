"""Boards and entries on disk.

A board is one folder per (env id, protocol name and version)::

    leaderboards/                      the root (data only)
      MPPMR-v0/                        env id
        default-v1/                    protocol name and version: one board
          sp-m8-3f2a9c1b/              one entry
            submission.json            metadata, population hash, the evaluator's result
            population.pt              the population (or a URL in submission.json)

Everything a board is keyed by is recorded in each of its entries' results, so the folder
names are checked against the data, never trusted on their own.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xpm_bench.errors import LeaderboardError
from xpm_bench.evaluation.evaluate import file_digest
from xpm_bench.evaluation.holdout import default_cache_dir
from xpm_bench.io import atomic_path
from xpm_bench.leaderboard.schema import validate_submission

DEFAULT_ROOT = Path("leaderboards")
SUBMISSION_FILE = "submission.json"
POPULATION_FILE = "population.pt"
_BOARD_NAME = re.compile(r"^(?P<name>[A-Za-z0-9_]+)-v(?P<version>[0-9]+)$")


@dataclass(frozen=True, order=True)
class BoardKey:
    """What a board is keyed by: the env id and the protocol's name and version."""

    env_id: str
    protocol: str
    version: int

    @property
    def relpath(self) -> str:
        """``ENV_ID/PROTOCOL-vVERSION``, the board's folder under the root."""
        return f"{self.env_id}/{self.protocol}-v{self.version}"

    def path(self, root: str | os.PathLike = DEFAULT_ROOT) -> Path:
        return Path(root) / self.env_id / f"{self.protocol}-v{self.version}"

    @classmethod
    def of_result(cls, result: dict[str, Any]) -> BoardKey:
        """The board an evaluator result belongs on."""
        proto = result["protocol"]
        return cls(result["env_id"], proto["name"], int(proto["version"]))

    @classmethod
    def of_path(cls, board_dir: str | os.PathLike) -> BoardKey:
        """Parse ``.../ENV_ID/NAME-vN``; a clear error for any other folder."""
        path = Path(board_dir)
        match = _BOARD_NAME.match(path.name)
        if not match:
            raise LeaderboardError(
                f"{str(path)!r} is not a board folder: boards are named "
                f"ENV_ID/PROTOCOL-vVERSION, e.g. leaderboards/MPPMR-v0/default-v1"
            )
        return cls(path.parent.name, match["name"], int(match["version"]))


@dataclass
class Entry:
    """One submission on a board: its folder and the parsed ``submission.json``."""

    path: Path
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return self.data["id"]

    @property
    def result(self) -> dict[str, Any]:
        return self.data["result"]

    @property
    def metadata(self) -> dict[str, Any]:
        return self.data["metadata"]

    @property
    def board_dir(self) -> Path:
        return self.path.parent

    @property
    def label(self) -> str:
        """``ENV_ID/BOARD/ID`` (how reports name an entry)."""
        return f"{self.board_dir.parent.name}/{self.board_dir.name}/{self.id}"

    def population_path(self, fetch: bool = False, cache_dir: str | Path | None = None) -> Path:
        """The local population file: the one beside ``submission.json``, or for a URL the
        cached download (fetched first when ``fetch``). Hash-checked either way."""
        pop = self.data["population"]
        if "file" in pop:
            path = self.path / pop["file"]
            if not path.is_file():
                raise LeaderboardError(f"{self.label}: population file {str(path)!r} is missing")
        else:
            path = population_cache_dir(cache_dir) / f"{pop['sha256'].split(':', 1)[1]}.pt"
            if not path.is_file():
                if not fetch:
                    raise LeaderboardError(
                        f"{self.label}: population {pop['url']} is not downloaded "
                        f"(expected in {path.parent})"
                    )
                download(pop["url"], path)
        digest = file_digest(path)
        if digest != pop["sha256"]:
            raise LeaderboardError(
                f"{self.label}: population file hash {digest} does not match the recorded "
                f"{pop['sha256']}"
            )
        return path


def read_json(path: str | os.PathLike, what: str) -> Any:
    """Parse a JSON file; a one-line error for a missing or malformed one."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise LeaderboardError(f"{what} {str(path)!r} does not exist") from None
    except (IsADirectoryError, UnicodeDecodeError) as error:
        raise LeaderboardError(f"{what} {str(path)!r} is not a JSON text file ({error})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise LeaderboardError(
            f"{what} {str(path)!r} is malformed: not valid JSON ({error.msg} at line "
            f"{error.lineno}, column {error.colno})"
        ) from None


def read_entry(path: str | os.PathLike) -> Entry:
    """Read and schema-check one entry (its folder or its ``submission.json``)."""
    path = Path(path)
    folder = path.parent if path.name == SUBMISSION_FILE else path
    data = read_json(folder / SUBMISSION_FILE, "submission")
    validate_submission(data, f"submission {str(folder / SUBMISSION_FILE)!r}")
    if data["id"] != folder.name:
        raise LeaderboardError(
            f"submission {str(folder)!r}: id {data['id']!r} does not match its folder name"
        )
    return Entry(folder, data)


def board_dirs(root: str | os.PathLike = DEFAULT_ROOT) -> list[Path]:
    """Every board folder under ``root``, sorted."""
    root = Path(root)
    return sorted(p for p in root.glob("*/*") if p.is_dir() and _BOARD_NAME.match(p.name))


def board_entries(board_dir: str | os.PathLike) -> list[Entry]:
    """Every entry of a board, sorted by id."""
    folder = Path(board_dir)
    BoardKey.of_path(folder)
    return [read_entry(p) for p in sorted(folder.glob(f"*/{SUBMISSION_FILE}"))]


def find_entries(target: str | os.PathLike = DEFAULT_ROOT) -> list[Entry]:
    """The entries a path names: a root of boards, one board, one entry folder or one
    ``submission.json``."""
    path = Path(target)
    if not path.exists():
        raise LeaderboardError(f"{str(path)!r} does not exist (give a board, an entry or a root)")
    if path.is_file() or (path / SUBMISSION_FILE).is_file():
        return [read_entry(path)]
    if _BOARD_NAME.match(path.name):
        return board_entries(path)
    boards = board_dirs(path)
    if not boards:
        raise LeaderboardError(
            f"{str(path)!r} holds no boards (expected ENV_ID/PROTOCOL-vVERSION folders)"
        )
    return [entry for board in boards for entry in board_entries(board)]


def iter_boards(root: str | os.PathLike = DEFAULT_ROOT) -> Iterator[tuple[BoardKey, list[Entry]]]:
    """``(key, entries)`` of every board under ``root``, in sorted order."""
    for folder in board_dirs(root):
        yield BoardKey.of_path(folder), board_entries(folder)


def population_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """Where populations referenced by URL are downloaded: ``populations/`` beside the
    holdout cache (``$XPM_BENCH_CACHE`` or ``~/.cache/xpm-bench``)."""
    if cache_dir is not None:
        return Path(cache_dir)
    return default_cache_dir().parent / "populations"


def download(url: str, path: Path) -> Path:
    """Fetch ``url`` to ``path`` atomically (a failed download leaves nothing)."""
    try:
        with atomic_path(path) as tmp, urllib.request.urlopen(url, timeout=60) as response:
            tmp.write_bytes(response.read())
    except OSError as error:
        raise LeaderboardError(f"could not download {url}: {error}") from None
    return path
