"""Run a registered generator end to end: config, harness, determinism, output file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xpm_bench import __version__
from xpm_bench.errors import ConfigError
from xpm_bench.generators import get_generator
from xpm_bench.generators.config import apply_overrides, config_to_dict
from xpm_bench.generators.harness import Harness, ProgressSink, configure_determinism
from xpm_bench.population import Population, save_population
from xpm_bench.registry import check_device, spec
from xpm_bench.seeding import check_training_seed


def build_config(method: str, env_id: str, preset: str, overrides: Sequence[str] = ()) -> Any:
    """The generator's preset for ``env_id`` with ``field=value`` overrides applied."""
    module = get_generator(method).load()
    return apply_overrides(module.preset(preset, env_id), overrides)


def run_generation(
    method: str,
    env_id: str,
    pop_size: int,
    seed: int = 0,
    preset: str = "default",
    overrides: Sequence[str] = (),
    output: str | os.PathLike | None = None,
    run_dir: str | os.PathLike | None = None,
    resume: bool = False,
    device: str = "cpu",
    checkpoint_interval_s: float = 60.0,
    progress: ProgressSink | None = None,
    threads: int | None = None,
    holdout_seed: bool = False,
    config: Any | None = None,
    monitor: Any | None = None,
) -> Population:
    """Generate a population with method ``method`` and (optionally) save it to ``output``.

    ``config``: a complete config object of the method, used instead of ``preset`` and
    ``overrides`` (the holdout recipes pin their partners' configs this way). ``monitor``: a
    cost-to-target callback (:class:`~xpm_bench.generators.target.TargetMonitor`) that the
    harness calls at every update boundary; it also checks the finished population.

    The harness counts every env step in the ledger, checkpoints into ``run_dir`` and, with
    ``resume``, continues from the checkpoint there. The output file is written atomically
    and only once the run is complete. ``seed`` must be below
    :data:`~xpm_bench.seeding.HOLDOUT_SEED_BASE` (``holdout_seed``: in the range reserved for
    the holdout sets' own partners; see :func:`~xpm_bench.seeding.check_training_seed`).
    """
    spec(env_id)  # unknown ids fail here, before any work
    check_training_seed(seed, holdout=holdout_seed)
    check_device(device)
    if pop_size < 1:
        raise ConfigError(f"pop-size must be >= 1, got {pop_size}")
    module = get_generator(method).load()
    if config is None:
        config = build_config(method, env_id, preset, overrides)
    meta = {
        "method": method,
        "env_id": env_id,
        "pop_size": int(pop_size),
        "seed": int(seed),
        "config": config_to_dict(config),
        "library_version": __version__,
    }
    if output is not None and Path(output).is_dir():
        raise ConfigError(f"output {str(output)!r} is a directory; give a file path like pop.pt")
    configure_determinism(threads)
    harness = Harness(
        run_dir=run_dir,
        meta=meta,
        resume=resume,
        checkpoint_interval_s=checkpoint_interval_s,
        progress=progress,
        device=device,
        monitor=monitor,
    )
    with harness.running():
        pop = module.generate(env_id, pop_size, config, seed, harness.ledger, harness)
    pop.ledger = harness.ledger.to_dict()
    if monitor is not None:
        monitor.finish(pop)
    if output is not None:
        save_population(pop, output)
        harness.discard_checkpoint()  # the run is complete and its result is safe on disk
    return pop
