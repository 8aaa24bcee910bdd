"""Open-loop fidelity of a world model against real sequences.

From the posterior at step ``t`` of a real sequence, the model imagines ``H`` steps with the
real actions that followed (:meth:`~xpm_bench.wm.model.WorldModel.imagine`), and its
predictions at ``t + k`` are compared with what the env produced. Windows that cross an
episode boundary are cut at the boundary (steps after it are masked out).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from xpm_bench.wm.model import WorldModel

Tensor = torch.Tensor


@dataclass
class OpenLoop:
    """Predictions and targets of open-loop rollouts, ``[H, N, ...]`` (step k = k+1 ahead).

    Attributes:
        events_pred: expected events ``[H, N, 2, E]``; ``events_true`` the real ones.
        cont_pred: continuation probability ``[H, N]``; ``cont_true`` the real flag.
        reward_pred: scalar-head team reward ``[H, N]`` (``None`` without that head).
        valid: ``[H, N]`` the step is inside the start's episode.
    """

    events_pred: Tensor
    events_true: Tensor
    cont_pred: Tensor
    cont_true: Tensor
    reward_pred: Tensor | None
    valid: Tensor


@torch.no_grad()
def open_loop(
    model: WorldModel,
    batch: dict[str, Tensor],
    horizon: int,
    generator: torch.Generator | None = None,
) -> OpenLoop:
    """Imagine ``horizon`` steps with the real actions from every posterior of ``batch``
    (time-major, the layout of :mod:`xpm_bench.wm.model`) that has ``horizon`` steps after it."""
    model.eval()
    posts, _ = model.observe(batch["obs"], batch["action"], batch["is_first"], None, generator)
    t_len, b = batch["obs"].shape[:2]
    starts = range(t_len - horizon)
    n = len(starts) * b
    start = {k: torch.cat([v[t] for t in starts]) for k, v in posts.items()}
    actions = torch.stack([torch.cat([batch["action"][t + k + 1] for t in starts])
                           for k in range(horizon)])  # fmt: skip
    out = model.imagine(start, actions, horizon, generator)

    def ahead(key: str) -> Tensor:
        return torch.stack([torch.cat([batch[key][t + k + 1] for t in starts])
                            for k in range(horizon)])  # fmt: skip

    first = ahead("is_first")
    # valid while no new episode began and the episode had not terminated before this step
    ended = torch.cumsum(first.long(), 0) > 0
    cont = ahead("cont")
    terminated_before = torch.cat(
        [torch.zeros(1, n, dtype=torch.bool), torch.cumsum((~cont).long(), 0)[:-1] > 0]
    )
    valid = ~ended & ~terminated_before
    return OpenLoop(out["events"], ahead("events"), out["cont"], cont, out.get("reward"), valid)


def event_accuracy(ol: OpenLoop, step: int = 0) -> float:
    """Fraction of valid transitions ``step + 1`` ahead whose whole event vector (both
    players, every event, rounded prediction) matches the real one."""
    pred = ol.events_pred[step].round()
    match = (pred == ol.events_true[step]).all(-1).all(-1)
    valid = ol.valid[step]
    return float(match[valid].float().mean())


def precision_recall(ol: OpenLoop, step: int | None = None) -> dict[str, Tensor]:
    """Per event (summed over players), precision and recall of the rounded predictions
    ``[E]`` over valid steps up to ``step + 1`` ahead (all steps if ``None``) and the counts
    behind them (NaN where an event never fired, resp. was never predicted)."""
    h = ol.valid.shape[0] if step is None else step + 1
    valid = ol.valid[:h].unsqueeze(-1).unsqueeze(-1).float()
    pred = ol.events_pred[:h].round().clamp_min(0) * valid
    true = ol.events_true[:h] * valid
    hit = torch.minimum(pred, true).sum((0, 1, 2))
    n_pred, n_true = pred.sum((0, 1, 2)), true.sum((0, 1, 2))
    nan = torch.tensor(float("nan"))
    return {
        "precision": torch.where(n_pred > 0, hit / n_pred.clamp_min(1), nan),
        "recall": torch.where(n_true > 0, hit / n_true.clamp_min(1), nan),
        "predicted": n_pred,
        "real": n_true,
    }


def return_error(ol: OpenLoop, weights: Tensor, step: int) -> float:
    """Mean absolute error of the team return over the first ``step + 1`` steps, with
    ``weights [E]`` applied to both players' events (predicted vs real)."""
    valid = ol.valid[: step + 1].float()
    pred = ((ol.events_pred[: step + 1] * weights).sum((-1, -2)) * valid).sum(0)
    true = ((ol.events_true[: step + 1] * weights).sum((-1, -2)) * valid).sum(0)
    return float((pred - true).abs().mean())


def scalar_return_error(ol: OpenLoop, weights: Tensor, step: int) -> float:
    """The same for the scalar reward head's predictions."""
    if ol.reward_pred is None:
        raise ValueError("the model has no scalar reward head")
    valid = ol.valid[: step + 1].float()
    pred = (ol.reward_pred[: step + 1] * valid).sum(0)
    true = ((ol.events_true[: step + 1] * weights).sum((-1, -2)) * valid).sum(0)
    return float((pred - true).abs().mean())


def continuation_accuracy(ol: OpenLoop, step: int | None = None) -> float:
    """Fraction of valid steps whose continuation is predicted right (p > 0.5)."""
    h = ol.valid.shape[0] if step is None else step + 1
    right = (ol.cont_pred[:h] > 0.5) == ol.cont_true[:h]
    return float(right[ol.valid[:h]].float().mean())
