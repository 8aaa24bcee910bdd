"""Rich progress across a sweep's jobs: done, running, failed, ETA, and a bar per running job.

The driver feeds it from the job folders (state and progress files), so it looks the same
whether jobs run in this process or as Ray tasks on other machines.
"""

from __future__ import annotations

import threading
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class SweepProgress:
    """The live display of one ``sweep run``.

    The top bar counts jobs; a running job adds the fraction of its generation steps done, so
    the ETA moves between job completions. Each running job has its own bar (env steps while
    generating, then its evaluation stage).
    """

    def __init__(self, console: Console):
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self._lock = threading.Lock()
        self._overall: TaskID | None = None
        self._rows: dict[str, TaskID] = {}
        self._done = self._failed = self._retries = 0
        self._total = 0
        self._fractions: dict[str, float] = {}  # running job -> fraction of its steps done

    def say(self, message: str) -> None:
        self.console.print(f"[dim]{message}[/dim]", highlight=False)

    def start(self, total: int, done: int) -> None:
        self._total, self._done = total, done
        self.progress.start()
        self._overall = self.progress.add_task("jobs", total=max(total, 1), info="")
        self._refresh()

    def running(self, jobs: dict[str, tuple[Any, dict[str, Any]]]) -> None:
        """``jobs``: job id -> (job, its progress file) for every job running now."""
        with self._lock:
            for job_id in list(self._rows):
                if job_id not in jobs:
                    self.progress.remove_task(self._rows.pop(job_id))
            self._fractions = {}
            for job_id, (job, prog) in jobs.items():
                done, total, info = _job_row(prog)
                if job_id not in self._rows:
                    label = f"{job.method} {job.env_id} M={job.pop_size} s={job.seed}"
                    self._rows[job_id] = self.progress.add_task(f"  {label}", total=None, info="")
                self.progress.update(self._rows[job_id], completed=done, total=total, info=info)
                self._fractions[job_id] = min(done / total, 1.0) if total else 0.0
            self._refresh()

    def finished(self, job_id: str, state: dict[str, Any]) -> None:
        with self._lock:
            if state.get("status") == "done":
                self._done += 1
                self.console.print(f"done   {job_id} ({state.get('wall_s', 0):.0f} s)")
            else:
                self._failed += 1
                self.console.print(f"[red]failed[/red] {job_id}: {state.get('error')}")
            if job_id in self._rows:
                self.progress.remove_task(self._rows.pop(job_id))
            self._fractions.pop(job_id, None)
            self._refresh()

    def retrying(self, job_id: str, error: BaseException, failures: int) -> None:
        with self._lock:
            self._retries += 1
            self.console.print(
                f"[yellow]retry[/yellow]  {job_id} (failure {failures}): "
                f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
            )
            self._refresh()

    def _refresh(self) -> None:
        if self._overall is None:
            return
        running = len(self._rows)
        pending = self._total - self._done - self._failed - running
        info = f"{self._done} done, {running} running, {self._failed} failed, {pending} pending"
        if self._retries:
            info += f", {self._retries} retries"
        self.progress.update(
            self._overall,
            completed=self._done + self._failed + sum(self._fractions.values()),
            info=info,
        )

    def stop(self) -> None:
        self.progress.stop()


def _job_row(prog: dict[str, Any]) -> tuple[float, float | None, str]:
    """(completed, total, info) of one running job's bar."""
    if prog.get("phase") == "generate" and prog.get("total"):
        info = f"generating {prog['done']:,}/{prog['total']:,} steps"
        if prog.get("return") is not None:
            info += f", return {prog['return']:.3g}"
        return float(prog["done"]), float(prog["total"]), info
    if prog.get("phase") == "evaluate":
        return 1.0, 1.0, f"evaluating: {prog.get('message', '')}"[:80]
    return 0.0, None, "starting"
