"""``xpm-bench leaderboard verify``: recompute every number of an entry from its population.

Quick verification (``--quick``) re-reads what is stored: the schema, the population file's
hash against the one recorded (twice: in the submission and in the result), the board's
folder names against the result's env id and protocol, the protocol and holdout versions
against this xpm-bench's registered ones (for boards still current), that all entries of a
board share env, protocol and holdout set, and that the recorded generation command gives
the population's config. Nothing is played.

Full verification also re-evaluates the population under the recorded protocol (same
evaluation seeds, same holdout set: its content hash must match) and compares every reported
field of the result with the recomputed one:

- **exact** for everything when the result was computed by the same xpm-bench version on the
  same type of machine (:func:`xpm_bench.runtime.same_machine_type`): evaluation is seeded,
  so a rerun there is bit-exact and any difference is a changed number;
- otherwise exact for the deterministic fields (env, protocol, holdout, population identity,
  the sample-cost ledger, counts and settings; :data:`DETERMINISTIC`), and for the estimated
  ones **within the confidence intervals**: each ``{"value", "ci"}`` (or ``x`` with ``x_ci``)
  must be reproduced inside the reported ``ci``, and the reported value must lie inside the
  reproduced one (so neither a changed value nor a changed interval passes); estimated
  numbers without an interval (single cross-play cells, event counts) cannot be judged
  across machines and are listed as unchecked.

Fields that describe the run rather than the population are not compared: ``timings_s``
(how long the evaluation took), ``machine`` and ``xpm_bench_version``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xpm_bench import __version__
from xpm_bench.errors import XpmBenchError
from xpm_bench.leaderboard import checks
from xpm_bench.leaderboard.board import BoardKey, Entry, board_entries
from xpm_bench.population import load_population
from xpm_bench.runtime import machine_fingerprint, same_machine_type

NOT_COMPARED = ("timings_s", "machine", "xpm_bench_version")
# Path prefixes that do not depend on sampled episodes: equal on every machine.
DETERMINISTIC = (
    "result_format_version",
    "env_id",
    "env_kwargs",
    "population",
    "protocol",
    "evaluation_seed",
    "holdout",
    "sample_cost",
    "warnings",
    "event_profiles.event_names",
    "metrics.num_members",
    "metrics.episodes",
    "metrics.compatibility_tau",
    "ego.train_env_steps",
    "ego.config",
)
COMPARE_MODES = ("auto", "exact", "ci")


@dataclass
class EntryReport:
    """The outcome of verifying one entry.

    Attributes:
        label: ``ENV/BOARD/ID``.
        mode: ``quick``, ``exact`` or ``ci`` (how numbers were compared).
        problems: one line per failed check or metric that did not reproduce.
        notes: things worth knowing that are not failures (retired board, unchecked fields).
        seconds: wall-clock time of the verification.
    """

    label: str
    mode: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


# ----------------------------------------------------------------------------- quick
def quick_problems(entry: Entry, board: list[Entry]) -> tuple[list[str], list[str]]:
    """``(problems, notes)`` of the stored checks (see the module docstring)."""
    problems: list[str] = []
    notes: list[str] = []
    result, where = entry.result, entry.label

    def attempt(check: Callable[[], Any]) -> Any:
        try:
            return check()
        except XpmBenchError as error:
            problems.append(str(error))
            return None

    key = attempt(lambda: BoardKey.of_path(entry.board_dir))
    if key is not None:
        attempt(lambda: checks.check_board_key(result, key, where))
    if entry.data["population"]["sha256"] != result["population"]["hash"]:
        problems.append(
            f"{where}: the submission's population sha256 differs from the result's hash"
        )
    others = [e for e in board if e.id != entry.id]
    attempt(lambda: checks.check_same_board(result, others, where))
    attempt(lambda: checks.check_unique_population(result["population"]["hash"], others, where))
    if _is_current_board(result):
        attempt(lambda: checks.check_current_protocol(result, where))
    else:
        notes.append(
            f"retired board: {result['protocol']['name']} v{result['protocol']['version']} is "
            f"no longer the current protocol (numbers still verifiable with a full verify only "
            f"while its holdout set is current); see `xpm-bench leaderboard resubmit`"
        )
    try:
        path = entry.population_path(fetch=False)
    except XpmBenchError as error:
        if "url" in entry.data["population"] and "not downloaded" in str(error):
            notes.append(f"population not downloaded, hash not checked: {error}")
        else:
            problems.append(str(error))
        return problems, notes
    pop = attempt(lambda: load_population(path))
    if pop is not None:
        attempt(lambda: checks.check_population_fits_result(result, pop, where))
        attempt(
            lambda: checks.check_generation_command(
                entry.metadata["generation_command"], pop, where
            )
        )
    return problems, notes


def _is_current_board(result: dict[str, Any]) -> bool:
    from xpm_bench.evaluation.protocol import get_protocol

    try:
        current = get_protocol(result["env_id"], result["protocol"]["name"])
    except XpmBenchError:
        return True  # let the protocol check report it
    return int(result["protocol"]["version"]) >= current.version


# ------------------------------------------------------------------------------ full
def reevaluate(
    entry: Entry,
    device: str = "cpu",
    holdout_cache: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Evaluate the entry's population again under the protocol its result records, with the
    torch thread count it was computed with."""
    import torch

    from xpm_bench.evaluation.evaluate import evaluate_population, file_digest

    path = entry.population_path(fetch=True)
    try:
        protocol = recorded_protocol(entry.result)
    except TypeError as error:
        raise XpmBenchError(
            f"{entry.label}: the recorded protocol has fields this xpm-bench does not know "
            f"({error}); verify it with the xpm-bench version that wrote it"
        ) from None
    threads = (entry.result.get("machine") or {}).get("threads")
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        return evaluate_population(
            load_population(path),
            protocol,
            device=device,
            progress=progress,
            holdout_cache=holdout_cache,
            population_hash=file_digest(path),
        )
    finally:
        torch.set_num_threads(previous)


def recorded_protocol(result: dict[str, Any]) -> Any:
    """The :class:`~xpm_bench.evaluation.protocol.Protocol` a result was scored under.

    Format 1 results did not record the ego's settings; the quick checks match them field for
    field with the registered protocol of that name and version, which is returned."""
    from xpm_bench.evaluation.protocol import get_protocol, protocol_from_record

    if result.get("result_format_version", 1) == 1:
        return get_protocol(result["env_id"], result["protocol"]["name"])
    return protocol_from_record(result["protocol"])


def comparison_mode(reported: dict[str, Any], requested: str = "auto", device: str = "cpu") -> str:
    """``exact`` or ``ci``: ``auto`` is exact only for the same xpm-bench version on the same
    type of machine."""
    if requested not in COMPARE_MODES:
        raise XpmBenchError(
            f"unknown comparison {requested!r}; accepted: {', '.join(COMPARE_MODES)}"
        )
    if requested != "auto":
        return requested
    here = machine_fingerprint(device)
    threads = (reported.get("machine") or {}).get("threads")
    if threads:
        here["threads"] = threads  # reevaluate() runs with the recorded thread count
    same = same_machine_type(reported.get("machine"), here)
    return "exact" if same and reported.get("xpm_bench_version") == __version__ else "ci"


def compare_results(
    reported: dict[str, Any], reproduced: dict[str, Any], mode: str
) -> tuple[list[str], list[str]]:
    """``(mismatches, unchecked)``: one line per reported field that did not reproduce, and
    the paths that could not be judged (``ci`` mode, estimates without an interval)."""
    mismatches: list[str] = []
    unchecked: list[str] = []
    old = dict(_leaves(_strip(reported)))
    new = dict(_leaves(_strip(reproduced)))
    intervals = dict(_intervals(_strip(reported)))
    redone = dict(_intervals(_strip(reproduced)))
    for path in sorted(set(old) | set(new), key=_path_order):
        if path not in new:
            mismatches.append(f"{path}: reported {old[path]!r}, missing from the reproduction")
            continue
        if path not in old:
            mismatches.append(f"{path}: reproduced {new[path]!r}, missing from the submission")
            continue
        a, b = old[path], new[path]
        if mode == "exact" or path.startswith(DETERMINISTIC):
            if not _equal(a, b):
                mismatches.append(f"{path}: reported {a!r}, reproduced {b!r}")
            continue
        if path in intervals:
            problem = _outside(a, b, intervals[path], redone.get(path))
            if problem:
                mismatches.append(f"{path}: reported {a!r}, reproduced {b!r}, {problem}")
        elif not _is_interval_bound(path):
            unchecked.append(path)
    return mismatches, unchecked


def _outside(
    reported: Any,
    reproduced: Any,
    reported_ci: tuple[float, float],
    reproduced_ci: tuple[float, float] | None,
) -> str:
    """Why two estimates of one quantity disagree, or ``""``: each must lie inside the
    other's interval (so neither a changed value nor a changed interval passes)."""
    low, high = reported_ci
    if reproduced is None or not low <= reproduced <= high:
        return f"outside the reported CI [{low!r}, {high!r}]"
    if reproduced_ci is not None:
        low, high = reproduced_ci
        if reported is None or not low <= reported <= high:
            return f"the reported value is outside the reproduced CI [{low!r}, {high!r}]"
    return ""


def _strip(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in NOT_COMPARED}


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        if not value:
            yield path, {}
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        if not value:
            yield path, []
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value


def _intervals(value: Any, path: str = "") -> Iterator[tuple[str, tuple[float, float]]]:
    """``(path of an estimate, (low, high))`` for ``{"value", "ci"}`` nodes and ``x``/``x_ci``
    siblings whose interval is finite."""
    if not isinstance(value, dict):
        return
    ci = value.get("ci")
    if "value" in value and _finite_pair(ci):
        yield f"{path}.value", (ci[0], ci[1])
    for key, item in value.items():
        sub = f"{path}.{key}" if path else key
        sibling = value.get(f"{key}_ci")
        if not isinstance(item, (dict, list)) and _finite_pair(sibling):
            yield sub, (sibling[0], sibling[1])
        yield from _intervals(item, sub)


def _is_interval_bound(path: str) -> bool:
    """CI bounds are themselves estimates; in ``ci`` mode only the value is judged."""
    return ".ci[" in path or "_ci[" in path


def _finite_pair(ci: Any) -> bool:
    return (
        isinstance(ci, list)
        and len(ci) == 2
        and all(isinstance(x, (int, float)) and math.isfinite(x) for x in ci)
    )


def _equal(a: Any, b: Any) -> bool:
    """Equal values; ``True`` never equals ``1`` (JSON keeps booleans and numbers apart)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def _path_order(path: str) -> tuple:
    return tuple(path.replace("[", ".[").split("."))


# ----------------------------------------------------------------------------- entry
def verify_entries(
    entries: list[Entry],
    quick: bool = False,
    compare: str = "auto",
    device: str = "cpu",
    holdout_cache: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[EntryReport]:
    """Verify each entry (quick or full); boards are read once for the cross-entry checks."""
    boards: dict[Path, list[Entry]] = {}
    reports = []
    for entry in entries:
        if entry.board_dir not in boards:
            boards[entry.board_dir] = board_entries(entry.board_dir)
        reports.append(
            verify_entry(
                entry, boards[entry.board_dir], quick, compare, device, holdout_cache, progress
            )
        )
    return reports


def verify_entry(
    entry: Entry,
    board: list[Entry],
    quick: bool = False,
    compare: str = "auto",
    device: str = "cpu",
    holdout_cache: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> EntryReport:
    """Verify one entry; see the module docstring."""
    start = time.perf_counter()
    problems, notes = quick_problems(entry, board)
    report = EntryReport(entry.label, "quick", problems, notes)
    if quick or problems:
        if problems and not quick:
            report.notes.append("not re-evaluated: the stored checks failed")
        report.seconds = time.perf_counter() - start
        return report
    report.mode = comparison_mode(entry.result, compare, device)
    if progress:
        progress(f"{entry.label}: re-evaluating ({report.mode} comparison)")
    try:
        reproduced = reevaluate(entry, device, holdout_cache, progress)
    except XpmBenchError as error:
        report.problems.append(f"{entry.label}: re-evaluation failed: {error}")
    else:
        mismatches, unchecked = compare_results(entry.result, reproduced, report.mode)
        report.problems += mismatches
        if unchecked:
            report.notes.append(
                f"{len(unchecked)} estimated fields without a CI not compared across machine "
                f"types (e.g. {unchecked[0]})"
            )
    report.seconds = time.perf_counter() - start
    return report
