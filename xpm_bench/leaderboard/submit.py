"""``xpm-bench leaderboard submit`` and ``resubmit``: put a result on its board.

Every check runs before anything is written, and the entry folder appears in one rename
(:func:`xpm_bench.io.atomic_directory`), so a refused or interrupted submission leaves the
board as it was.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xpm_bench import __version__
from xpm_bench.errors import LeaderboardError
from xpm_bench.evaluation.evaluate import file_digest
from xpm_bench.io import atomic_directory, write_json
from xpm_bench.leaderboard import checks
from xpm_bench.leaderboard.board import (
    DEFAULT_ROOT,
    POPULATION_FILE,
    SUBMISSION_FILE,
    BoardKey,
    Entry,
    board_entries,
    read_entry,
    read_json,
)
from xpm_bench.leaderboard.schema import SUBMISSION_FORMAT_VERSION, validate_result
from xpm_bench.population import load_population


@dataclass(frozen=True)
class SubmitOptions:
    """How a submission is described and stored.

    Attributes:
        description: one line saying what the entry is; default ``"METHOD at M = N, seed S"``.
        authors: free-form authors string, or ``None``.
        generation_command: the ``xpm-bench generate ...`` line that made the population;
            default: rebuilt from the population file (its method's closest preset plus
            ``--set`` overrides). Checked against the file either way.
        entry_id: the entry's folder name; default ``METHOD-mM-<first 8 hex of the hash>``.
        population_url: store this URL (``https://`` or ``file://``) with the file's sha256
            instead of a copy of the file.
        max_copy_bytes: population files larger than this must be given a
            ``population_url`` (keeps the repository small).
        resubmitted_from: ``ENV/BOARD/ID`` of the entry this one re-evaluates, if any.
    """

    description: str | None = None
    authors: str | None = None
    generation_command: str | None = None
    entry_id: str | None = None
    population_url: str | None = None
    max_copy_bytes: int = 20 * 2**20
    resubmitted_from: str | None = None


def submit(
    result_path: str | os.PathLike,
    population_path: str | os.PathLike,
    board: str | os.PathLike | None = None,
    root: str | os.PathLike = DEFAULT_ROOT,
    options: SubmitOptions = SubmitOptions(),
) -> Entry:
    """Check ``result_path`` (an evaluator result JSON) against ``population_path`` and the
    board, then add it as a new entry; see the module docstring."""
    result = read_json(result_path, "result")
    validate_result(result, f"result {str(result_path)!r}")
    return submit_result(result, population_path, board, root, options)


def submit_result(
    result: dict[str, Any],
    population_path: str | os.PathLike,
    board: str | os.PathLike | None = None,
    root: str | os.PathLike = DEFAULT_ROOT,
    options: SubmitOptions = SubmitOptions(),
) -> Entry:
    """:func:`submit` for a result already in memory."""
    submission, board_dir = prepare_submission(result, population_path, board, root, options)
    return write_entry(board_dir, submission, population_path)


def prepare_submission(
    result: dict[str, Any],
    population_path: str | os.PathLike,
    board: str | os.PathLike | None,
    root: str | os.PathLike,
    options: SubmitOptions,
) -> tuple[dict[str, Any], Path]:
    """Run every check and build ``submission.json``'s content; writes nothing."""
    where = "submit"
    validate_result(result, where)
    digest = file_digest(population_path)
    checks.check_population_hash(result, digest, where)
    pop = load_population(population_path)
    checks.check_population_fits_result(result, pop, where)
    checks.check_current_protocol(result, where)

    key = BoardKey.of_result(result)
    board_dir = Path(board) if board is not None else key.path(root)
    checks.check_board_key(result, BoardKey.of_path(board_dir), where)
    others = board_entries(board_dir) if board_dir.is_dir() else []
    checks.check_same_board(result, others, where)
    entry_id = options.entry_id or default_entry_id(result, digest)
    _check_entry_id(entry_id)
    checks.check_not_duplicate(entry_id, digest, others, where)

    command = options.generation_command or checks.generation_command_for(pop)
    checks.check_generation_command(command, pop, where)
    size = Path(population_path).stat().st_size
    population: dict[str, Any] = {"sha256": digest, "size_bytes": size}
    if options.population_url:
        population["url"] = options.population_url
    elif size > options.max_copy_bytes:
        raise LeaderboardError(
            f"{where}: the population file is {size / 2**20:.1f} MiB, over the "
            f"{options.max_copy_bytes / 2**20:.0f} MiB that are copied into the repository; "
            f"publish it and pass --population-url URL"
        )
    else:
        population["file"] = POPULATION_FILE
    submission = {
        "submission_format_version": SUBMISSION_FORMAT_VERSION,
        "id": entry_id,
        "metadata": {
            "method": pop.method,
            "description": options.description or default_description(result, pop),
            "authors": options.authors,
            "xpm_bench_version": __version__,
            "generation_command": command,
            "evaluation_command": evaluation_command(result),
            "resubmitted_from": options.resubmitted_from,
        },
        "population": population,
        "result": result,
    }
    return submission, board_dir


def write_entry(
    board_dir: str | os.PathLike, submission: dict[str, Any], population_path: str | os.PathLike
) -> Entry:
    """Write the entry folder (``submission.json`` and, unless referenced by URL, a copy of
    the population) in one atomic rename."""
    target = Path(board_dir) / submission["id"]
    with atomic_directory(target) as tmp:
        write_json(tmp / SUBMISSION_FILE, submission)
        if "file" in submission["population"]:
            shutil.copyfile(population_path, tmp / submission["population"]["file"])
    return read_entry(target)


def default_entry_id(result: dict[str, Any], digest: str) -> str:
    """``METHOD-mM-<8 hex>``, lower case, safe as a folder name."""
    method = re.sub(r"[^a-z0-9._-]+", "-", result["population"]["method"].lower()).strip("-.")
    return f"{method or 'pop'}-m{result['population']['pop_size']}-{digest.split(':')[1][:8]}"


def _check_entry_id(entry_id: str) -> None:
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,79}", entry_id):
        raise LeaderboardError(
            f"submit: entry id {entry_id!r} is not accepted: use 1-80 lower-case letters, "
            f"digits, '.', '_' or '-', starting with a letter or digit"
        )


def default_description(result: dict[str, Any], pop) -> str:
    seed = pop.seeds.get("seed")
    tail = f", seed {seed}" if seed is not None else ""
    return f"{pop.method} at M = {len(pop.members)}{tail}"


def evaluation_command(result: dict[str, Any]) -> str:
    """The ``xpm-bench evaluate`` line that reproduces ``result`` from the entry's file."""
    machine = result.get("machine") or {}
    words = ["xpm-bench", "evaluate", POPULATION_FILE, "--protocol", result["protocol"]["name"]]
    if machine.get("threads"):
        words += ["--threads", str(machine["threads"])]
    if machine.get("device") and machine["device"] != "cpu":
        words += ["--device", str(machine["device"])]
    return shlex.join([*words, "--out", "result.json"])


def resubmit(
    board: str | os.PathLike,
    root: str | os.PathLike = DEFAULT_ROOT,
    device: str = "cpu",
    holdout_cache: str | Path | None = None,
    progress=None,
) -> list[Entry]:
    """Re-evaluate every entry of ``board`` under the *current* version of its protocol and
    submit each to the current board (``root/ENV/NAME-vN``), keeping the metadata.

    Run this after a protocol (or holdout) version bump; the old board stays as it was.
    Entries already on the current board (same population) are skipped.
    """
    from xpm_bench.evaluation.evaluate import evaluate_population
    from xpm_bench.evaluation.protocol import get_protocol

    key = BoardKey.of_path(board)
    current = get_protocol(key.env_id, key.protocol).version
    if key.version >= current:
        raise LeaderboardError(
            f"resubmit: {key.relpath} is on the current {key.protocol} protocol (v{current}), "
            f"so there is no newer board to move to; boards are keyed by the protocol "
            f"version, so a changed holdout set needs a protocol version bump too"
        )
    written = []
    for entry in board_entries(board):
        pop_path = entry.population_path(fetch=True)
        population = load_population(pop_path)
        if progress:
            progress(f"{entry.label}: re-evaluating under the current {key.protocol} protocol")
        result = evaluate_population(
            population,
            key.protocol,
            device=device,
            progress=progress,
            holdout_cache=holdout_cache,
            population_hash=file_digest(pop_path),
        )
        target = BoardKey.of_result(result).path(root)
        existing = board_entries(target) if target.is_dir() else []
        if any(
            e.data["population"]["sha256"] == entry.data["population"]["sha256"] for e in existing
        ):
            continue
        meta = entry.metadata
        options = SubmitOptions(
            description=meta["description"],
            authors=meta["authors"],
            generation_command=meta["generation_command"],
            entry_id=entry.id,
            population_url=entry.data["population"].get("url"),
            resubmitted_from=entry.label,
        )
        written.append(submit_result(result, pop_path, target, root, options))
    return written
