"""Self-play holdout partners: one-member ``sp`` runs from seeds reserved for holdouts.

:func:`train_sp_partners` is the one loop that trains them. Partner ``k`` is trained from seed
``HOLDOUT_SEED_BASE + k`` (a range the generators refuse, see
:func:`~xpm_bench.seeding.check_training_seed`) with the recipe's literal ``sp`` config, never
the generator's current presets, so editing a preset cannot change a holdout set. Each run
keeps its population file and checkpoint directory under ``<cache>/<env_id>/<run_label>/``:
an interrupted build resumes where it stopped, and a finished partner is never trained twice
(also across recipe versions that keep the same config). A per-partner file lock lets several
processes build at once without training one partner twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from filelock import FileLock

from xpm_bench.evaluation.holdout.sets import PartnerSpec

ProgressFn = Callable[[str], None]

# ``map_fn(fn, calls)`` runs ``fn(**kwargs)`` for every kwargs dict in ``calls`` and returns
# the results in order: one after another by default, or in parallel (e.g. as Ray tasks,
# ``xpm_bench.sweep.executors.ray_map``). ``fn`` and the kwargs must be picklable.
MapFn = Callable[[Callable[..., Any], Sequence[dict[str, Any]]], list[Any]]


def sequential_map(fn: Callable[..., Any], calls: Sequence[dict[str, Any]]) -> list[Any]:
    """The default :data:`MapFn`: the calls one after another, in this process."""
    return [fn(**kwargs) for kwargs in calls]


def sp_holdout_seeds(n: int) -> list[int]:
    """Seeds of the self-play holdout partners: ``HOLDOUT_SEED_BASE + k``."""
    from xpm_bench.seeding import HOLDOUT_SEED_BASE

    return [HOLDOUT_SEED_BASE + k for k in range(n)]


def train_sp_partners(
    env_id: str,
    directory: Path,
    members: int,
    config: Mapping[str, Any],
    label: str,
    progress: ProgressFn,
    map_fn: MapFn = sequential_map,
) -> list[PartnerSpec]:
    """Train (or load, when finished earlier) ``members`` self-play partners of ``env_id``.

    ``config`` is a complete ``sp`` config as plain data (every field, see
    :func:`~xpm_bench.generators.config.config_from_dict` with ``strict``); ``label`` names
    the partners' origin in their params (recipe version 3 recorded the preset it copied the
    config from, ``default`` or ``smoke``, and that label stays so cached sets keep their hash).
    The partners still missing are trained through ``map_fn`` (one after another by default,
    in parallel with a parallel map: the partners are the same either way).
    """
    from xpm_bench.population import load_population

    directory.mkdir(parents=True, exist_ok=True)
    seeds = sp_holdout_seeds(members)
    missing = [
        {"env_id": env_id, "k": k, "seed": seed, "config": dict(config), "label": label,
         "directory": directory, "progress": progress}
        for k, seed in enumerate(seeds)
        if not (directory / f"seed{seed}.pt").exists()
    ]  # fmt: skip
    map_fn(_train_sp_partner, missing)
    partners = []
    for k, seed in enumerate(seeds):
        member = load_population(directory / f"seed{seed}.pt").members[0]
        partners.append(
            PartnerSpec(
                name=f"sp-holdout-{k}",
                group="sp-population",
                builder="net-policy",
                params={
                    "arch": member.arch,
                    "arch_kwargs": member.arch_kwargs,
                    "seed": int(seed),
                    "generator": "sp",
                    "preset": label,
                    "train_return": member.info.get("final_return"),
                },
                weights={key: t.clone() for key, t in member.state_dict.items()},
            )
        )
    return partners


def _train_sp_partner(
    env_id: str,
    k: int,
    seed: int,
    config: dict[str, Any],
    label: str,
    directory: Path,
    progress: ProgressFn,
) -> None:
    """Train (or resume) self-play holdout partner ``k`` into ``directory/seed<seed>.pt``,
    under a per-partner file lock (another process may be building the same set)."""
    from xpm_bench.generators.config import config_from_dict
    from xpm_bench.generators.run import run_generation
    from xpm_bench.generators.sp import Config

    path = directory / f"seed{seed}.pt"
    with FileLock(str(directory / f"seed{seed}.lock")):
        if path.exists():
            return
        run_dir = directory / f"seed{seed}.run"
        progress(f"holdout: training self-play partner {k} (seed {seed}, {label})")
        run_generation(
            "sp",
            env_id,
            1,
            seed=seed,
            config=config_from_dict(Config, config, strict=True),
            output=path,
            run_dir=run_dir,
            resume=(run_dir / "checkpoint.pt").exists(),
            progress=_LineProgress(progress, f"sp partner {k}"),
            threads=1,
            holdout_seed=True,
        )


class _LineProgress:
    """A generator progress sink that reports every tenth of the run as one line."""

    def __init__(self, say: ProgressFn, label: str):
        self.say, self.label, self.total, self.next_tenth = say, label, 1, 1

    def start(self, total_steps: int, done_steps: int) -> None:
        self.total = max(1, total_steps)
        self.next_tenth = done_steps * 10 // self.total + 1

    def update(self, done_steps: int, metrics: dict[str, Any]) -> None:
        if done_steps * 10 // self.total >= self.next_tenth:
            self.next_tenth = done_steps * 10 // self.total + 1
            ret = metrics.get("return", float("nan"))
            self.say(f"{self.label}: {done_steps:,}/{self.total:,} env steps, return {ret:.1f}")

    def stop(self) -> None:
        pass
