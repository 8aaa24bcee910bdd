"""Sweeps: a grid of generate+evaluate jobs from a YAML spec, run in-process or on Ray.

- :mod:`~xpm_bench.sweep.spec`: the spec file, validated against the registries, and its jobs;
- :mod:`~xpm_bench.sweep.job`: one job's folder, state and runner;
- :mod:`~xpm_bench.sweep.executors`: ``local`` (in-process) and ``ray`` (tasks on a cluster);
- :mod:`~xpm_bench.sweep.run`: the driver (resume, retries, progress);
- :mod:`~xpm_bench.sweep.report`: status, ``results.jsonl``, ``summary.md`` and plots.
"""

from xpm_bench.sweep.executors import LocalExecutor, RayExecutor
from xpm_bench.sweep.report import collect_results, job_status, write_report
from xpm_bench.sweep.run import SweepInterrupted, SweepOutcome, run_sweep
from xpm_bench.sweep.spec import Job, Resources, SweepSpec, SweepSpecError, load_spec, parse_spec

__all__ = [
    "Job",
    "LocalExecutor",
    "RayExecutor",
    "Resources",
    "SweepInterrupted",
    "SweepOutcome",
    "SweepSpec",
    "SweepSpecError",
    "collect_results",
    "job_status",
    "load_spec",
    "parse_spec",
    "run_sweep",
    "write_report",
]
