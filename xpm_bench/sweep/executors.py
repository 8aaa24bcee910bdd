"""Executors: where sweep jobs run. ``local`` runs them one after another in this process;
``ray`` runs each as a Ray task on a local Ray cluster or an existing one.

An executor only places work: job inputs and outputs live in the job folders, seeds come from
the spec, and the thread count and device from the job's resources, so a job computes the
same numbers on either executor. Retries are the driver's (:mod:`xpm_bench.sweep.run`): Ray's
own task retries are off, so a job is never run twice behind the driver's back.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from xpm_bench.errors import ConfigError
from xpm_bench.sweep.spec import Resources

RAY_INSTALL_HINT = 'the ray executor needs Ray: pip install "xpm-bench[ray]"'
# Object store of a local cluster we start: tasks pass only small dicts (files hold the rest),
# so a small store keeps Ray from reserving a third of a shared machine's memory.
LOCAL_OBJECT_STORE_BYTES = 256 * 1024**2

Outcome = tuple[Any, BaseException | None]  # (ticket, error or None)


def import_ray():
    """The ``ray`` module, or a :class:`~xpm_bench.errors.ConfigError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_INSTALL_HINT) from None
    return ray


class LocalExecutor:
    """Jobs one after another in this process (no extra dependency)."""

    name = "local"

    def __init__(self) -> None:
        self._queue: deque[tuple[Any, Callable[[], Any]]] = deque()

    def start(self, resources: Resources) -> None:
        if resources.num_gpus > 0:
            import torch

            if not torch.cuda.is_available():
                raise ConfigError(
                    f"resources.num_gpus is {resources.num_gpus:g} but CUDA is not available "
                    f"here; set num_gpus: 0 or use --executor ray on a cluster with GPUs"
                )

    def submit(
        self, ticket: Any, fn: Callable[..., Any], args: tuple, resources: Resources
    ) -> None:
        self._queue.append((ticket, lambda: fn(*args)))

    def pending(self) -> int:
        return len(self._queue)

    def wait(self, timeout_s: float) -> list[Outcome]:
        """Run the next queued call to completion."""
        if not self._queue:
            return []
        ticket, call = self._queue.popleft()
        try:
            call()
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as error:  # noqa: BLE001  recorded by the driver
            return [(ticket, error)]
        return [(ticket, None)]

    def cancel_all(self) -> None:
        self._queue.clear()

    def shutdown(self) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        import os

        return {"executor": self.name, "cpus": os.cpu_count()}


class RayExecutor:
    """Each job a Ray task with the spec's resources.

    Only as many tasks as the cluster can run at once are submitted; the rest wait here, in
    the driver's order (Ray does not start queued tasks first-in first-out, and the driver
    orders jobs largest first to shorten the sweep's tail). The capacity is re-read from the
    cluster as jobs finish, so nodes that join are used.

    Args:
        address: ``None`` starts a local Ray cluster sized to this machine (or to
            ``num_cpus``); ``"auto"`` or ``"HOST:PORT"`` joins a running cluster. If Ray is
            already initialised in this process, that cluster is used as it is.
        num_cpus: CPUs of a local cluster we start (default: all of this machine's).
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None):
        if address is not None and num_cpus is not None:
            raise ConfigError(
                "--num-cpus sizes a local Ray cluster; it cannot be combined with --address"
            )
        self.ray = import_ray()
        self.address, self.num_cpus = address, num_cpus
        self._refs: dict[Any, Any] = {}
        self._queue: deque[tuple[Any, Callable[..., Any], tuple, Resources]] = deque()
        self._capacity = 1
        self._started_here = False

    def start(self, resources: Resources) -> None:
        self._started_here = not self.ray.is_initialized()
        init_ray(self.address, self.num_cpus)
        total = self.ray.cluster_resources()
        for key, need in (("CPU", resources.num_cpus), ("GPU", resources.num_gpus)):
            have = float(total.get(key, 0.0))
            if need > have:
                raise ConfigError(
                    f"each job needs {need:g} {key}(s) but the Ray cluster has {have:g}; "
                    f"lower resources.{'num_cpus' if key == 'CPU' else 'num_gpus'} or add nodes"
                )
        self._update_capacity(resources)

    def submit(
        self, ticket: Any, fn: Callable[..., Any], args: tuple, resources: Resources
    ) -> None:
        self._queue.append((ticket, fn, args, resources))
        self._fill()

    def _fill(self) -> None:
        while self._queue and len(self._refs) < self._capacity:
            self._launch(*self._queue.popleft())

    def _update_capacity(self, resources: Resources) -> None:
        """How many jobs of ``resources`` the cluster holds at once (at least 1)."""
        total = self.ray.cluster_resources()
        needs = {"CPU": resources.num_cpus, "GPU": resources.num_gpus}
        if resources.memory:
            needs["memory"] = resources.memory
        fits = [int(float(total.get(k, 0.0)) // v) for k, v in needs.items() if v > 0]
        self._capacity = max(1, min(fits)) if fits else 1

    def _launch(
        self, ticket: Any, fn: Callable[..., Any], args: tuple, resources: Resources
    ) -> None:
        options: dict[str, Any] = {
            "num_cpus": resources.num_cpus,
            "num_gpus": resources.num_gpus,
            "max_retries": 0,  # the driver retries (and counts attempts)
            "retry_exceptions": False,
        }
        if resources.memory:
            options["memory"] = resources.memory
        remote = self.ray.remote(fn).options(**options)
        self._refs[ticket] = remote.remote(*args)

    def pending(self) -> int:
        return len(self._refs) + len(self._queue)

    def wait(self, timeout_s: float) -> list[Outcome]:
        if not self._refs:
            self._fill()
            return []
        tickets = {ref: ticket for ticket, ref in self._refs.items()}
        ready, _ = self.ray.wait(list(tickets), num_returns=len(tickets), timeout=timeout_s)
        outcomes = []
        for ref in ready:
            ticket = tickets[ref]
            del self._refs[ticket]
            outcomes.append((ticket, self._error_of(ref)))
        if ready and self._queue:
            self._update_capacity(self._queue[0][3])
        self._fill()
        return outcomes

    def _error_of(self, ref: Any) -> BaseException | None:
        try:
            self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as error:
            cause = error.cause if isinstance(error.cause, BaseException) else None
            return cause or error
        except self.ray.exceptions.RayError as error:  # the worker died: killed, out of memory
            return WorkerLost(f"the Ray worker running the job died ({type(error).__name__})")
        return None

    def cancel_all(self) -> None:
        self._queue.clear()
        for ref in self._refs.values():
            self.ray.cancel(ref)
        self._refs.clear()

    def shutdown(self) -> None:
        if self._started_here:
            self.ray.shutdown()

    def describe(self) -> dict[str, Any]:
        total = self.ray.cluster_resources()
        return {
            "executor": self.name,
            "address": self.address,
            "cpus": total.get("CPU"),
            "gpus": total.get("GPU", 0.0),
            "nodes": len([n for n in self.ray.nodes() if n.get("Alive")]),
        }


class WorkerLost(RuntimeError):
    """The process running a job died without raising (killed, out of memory)."""


def init_ray(address: str | None = None, num_cpus: int | None = None, log_to_driver: bool = False):
    """Connect to Ray: join ``address`` (``auto`` or ``HOST:PORT``), or start a local cluster
    (all CPUs, or ``num_cpus``). Does nothing if Ray is already initialised here."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    kwargs: dict[str, Any] = {
        "log_to_driver": log_to_driver,  # job output would tear the progress display
        "logging_level": logging.WARNING,
        "include_dashboard": False,
    }
    if address is None:
        kwargs.update(
            num_cpus=num_cpus,
            object_store_memory=LOCAL_OBJECT_STORE_BYTES,
            # Ray starts workers at niceness 15 so that its own daemons stay responsive; on a
            # machine shared with other work that starves the jobs (measured: about a sixth
            # of a core per worker at a load of 9 on 2 cores). Jobs are the work here.
            _system_config={"worker_niceness": 0},
        )
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, ValueError, RuntimeError) as error:
        where = f"the Ray cluster at {address!r}" if address else "a local Ray cluster"
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"cannot connect to {where}: {first}") from None
    return ray


def ray_map(
    fn: Callable[..., Any], calls: Sequence[dict[str, Any]], num_cpus: float = 1.0
) -> list[Any]:
    """``[fn(**kwargs) for kwargs in calls]`` as parallel Ray tasks of ``num_cpus`` each, in
    order (Ray must be initialised; see :func:`init_ray`). A parallel
    :data:`~xpm_bench.evaluation.holdout.MapFn`."""
    ray = import_ray()
    if not calls:
        return []
    remote = ray.remote(_call_with_kwargs).options(num_cpus=num_cpus, max_retries=0)
    return ray.get([remote.remote(fn, kwargs) for kwargs in calls])


def _call_with_kwargs(fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    return fn(**kwargs)
