"""Behaviour-cloned human proxies for the Overcooked holdout sets.

The 2019 human-human trials shipped with overcooked-ai (:func:`xpm_bench.envs.reference.
load_human_data`) have a train and a test split. For each classic layout:

- :func:`human_dataset` turns every recorded transition into two samples, one per player: the
  engine's lossless observation of the recorded state from that player's seat (ego first) and
  the action index the player took (``Action.ALL_ACTIONS`` order: north, south, east, west,
  stay, interact). No transition is dropped. The recorded states carry no episode timestep, so
  the observation's urgency plane is always off (as it is for all but the last 40 steps of an
  episode). :func:`human_action_history` gives each sample the player's own previous
  :data:`HISTORY` actions in the same trial ('stay' before the trial's first step).
- Why the history: 'stay' is 50-72% of the recorded actions (72% on cramped_room) and when a
  human presses a key is barely predictable from the state alone: a state-only net trained on
  every sample stays at the majority baseline (cramped_room test accuracy 0.705 vs 0.711).
  The player's last actions carry the rhythm of their key presses, and a proxy that sees them
  idles in human-like runs. (Version 2 of the holdout undersampled 'stay' instead; that proxy
  idled less than the humans did and fell below the majority baseline on all samples.)
- :func:`train_bc` fits :class:`BCNet` (an MLP over the flattened observation and the one-hot
  history) with cross-entropy and Adam on **all** train samples, deterministically given the
  seed.
- :func:`evaluate_bc` reports on the test split the action accuracy (argmax), the accuracy of
  always predicting the train split's most frequent action, the mean negative log-likelihood
  of the recorded actions and that of the train split's action frequencies (the majority
  baseline as a distribution), and on the *active* samples (the human did not stay) the
  accuracy of the most likely non-stay action against their own majority action.
- :func:`train_human_proxy` does all of that for one layout. :class:`BCProxyPolicy` is the
  stochastic partner built from a trained net: it samples from the softmax and keeps its own
  action history in the policy carry.

This module knows nothing of holdout sets: the Overcooked holdout recipe
(:mod:`xpm_bench.evaluation.holdout.recipes`) pins the training settings it calls
:func:`train_human_proxy` with, and the holdout cache stores the weights, so a proxy is
trained once per cache.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from xpm_bench.agents.networks import mlp_stack, sample_actions
from xpm_bench.errors import EnvArgumentError

Tensor = torch.Tensor

NUM_ACTIONS = 6
ACTION_NAMES = ("north", "south", "east", "west", "stay", "interact")
STAY = ACTION_NAMES.index("stay")

# Default training settings (the holdout recipe pins its own copy of them).
HISTORY = 4
DEFAULT_HIDDEN = 128
DEFAULT_LAYERS = 2
DEFAULT_EPOCHS = 8
DEFAULT_BATCH = 256
DEFAULT_LR = 1e-3
PROXY_SEED = 0


# ------------------------------------------------------------------------- dataset
def human_dataset(layout_name: str, split: str) -> tuple[Tensor, Tensor]:
    """Observations ``uint8 [N, 26, W, H]`` and actions ``int64 [N]`` of the recorded humans.

    ``layout_name`` is a shipped layout name (``cramped_room``, ..., ``counter_circuit_o_1order``;
    the 2019 data's ``random0``/``random3`` map to ``forced_coordination`` and
    ``counter_circuit_o_1order``). Sample ``2 i + p`` is player ``p`` of the ``i``-th recorded
    transition of the layout (in the recording's row order).
    """
    rows = _layout_rows(layout_name, split)
    return _observations(rows, layout_name), _joint_actions(rows).reshape(-1)


def human_action_history(layout_name: str, split: str, history: int = HISTORY) -> Tensor:
    """``int64 [N, history]``: for each sample of :func:`human_dataset` (same order), the
    player's own actions at the ``history`` previous steps of the same trial, most recent
    first; 'stay' where the trial had not started yet.

    A trial is a ``(workerid_num, round_num)`` pair of the layout; its steps are consecutive
    ``cur_gameloop`` values.
    """
    rows = _layout_rows(layout_name, split)
    return _history(rows, _joint_actions(rows), history)


def human_samples(
    layout_name: str, split: str, history: int = HISTORY
) -> tuple[Tensor, Tensor, Tensor]:
    """``(observations, past actions, actions)``: :func:`human_dataset` and
    :func:`human_action_history` from one read of the recording."""
    rows = _layout_rows(layout_name, split)
    actions = _joint_actions(rows)
    return _observations(rows, layout_name), _history(rows, actions, history), actions.reshape(-1)


def _layout_rows(layout_name: str, split: str) -> Any:
    from xpm_bench.envs.reference import load_human_data

    frame = load_human_data(split)
    rows = frame[frame["layout_id"] == layout_name]
    if len(rows) == 0:
        known = sorted(frame["layout_id"].dropna().unique())
        raise EnvArgumentError(
            f"no human data for layout {layout_name!r}; layouts with data: {', '.join(known)}"
        )
    return rows


def _joint_actions(rows: Any) -> Tensor:
    from xpm_bench.envs.reference import human_joint_action

    return torch.tensor([human_joint_action(a) for a in rows["joint_action"]], dtype=torch.int64)


def _observations(rows: Any, layout_name: str) -> Tensor:
    from xpm_bench.envs.reference import from_reference, parse_state_string
    from xpm_bench.registry import make

    # The humans played under the 2019 rule (pots cook once full): the classic engine.
    env = make("OvercookedClassic-v0", num_envs=len(rows), layout=layout_name, copy_obs=True)
    env.reset()
    env.set_state(from_reference([parse_state_string(s) for s in rows["state"]], env))
    obs = env._observe().clone()  # [n, 2, C, W, H], each seat ego first
    return obs.reshape(-1, *obs.shape[2:])


def _history(rows: Any, actions: Tensor, history: int) -> Tensor:
    trial = list(zip(rows["workerid_num"].tolist(), rows["round_num"].tolist(), strict=True))
    loop = rows["cur_gameloop"].tolist()
    past = torch.full((len(rows), history, 2), STAY, dtype=torch.int64)
    for i in range(len(rows)):
        for k in range(1, history + 1):
            j = i - k
            if j < 0 or trial[j] != trial[i] or loop[j] != loop[i] - k:
                break
            past[i, k - 1] = actions[j]
    # sample 2 i + p is player p: [n, history, 2] -> [n, 2, history] -> [2 n, history]
    return past.transpose(1, 2).reshape(-1, history)


# ------------------------------------------------------------------------ training
class BCNet(nn.Module):
    """Action logits from an observation and the player's last actions (one-hot)."""

    def __init__(
        self,
        obs_shape: list[int],
        history: int = HISTORY,
        hidden: int = DEFAULT_HIDDEN,
        layers: int = DEFAULT_LAYERS,
    ):
        super().__init__()
        self.obs_shape, self.history = [int(d) for d in obs_shape], int(history)
        size = math.prod(self.obs_shape) + NUM_ACTIONS * self.history
        self.body = mlp_stack(size, int(hidden), int(layers), activation=nn.ReLU)
        self.head = nn.Linear(int(hidden) if layers else size, NUM_ACTIONS)

    def forward(self, obs: Tensor, past: Tensor) -> Tensor:
        past_onehot = nn.functional.one_hot(past, NUM_ACTIONS).flatten(1).float()
        return self.head(self.body(torch.cat([obs.flatten(1).float(), past_onehot], dim=1)))


def bc_net_kwargs(
    obs_shape: tuple[int, ...],
    history: int = HISTORY,
    hidden: int = DEFAULT_HIDDEN,
    layers: int = DEFAULT_LAYERS,
) -> dict[str, Any]:
    """Plain keyword arguments of a :class:`BCNet` (stored in partner specs)."""
    return {
        "obs_shape": [int(d) for d in obs_shape],
        "history": int(history),
        "hidden": int(hidden),
        "layers": int(layers),
    }


def train_bc(
    obs: Tensor,
    past: Tensor,
    actions: Tensor,
    seed: int = PROXY_SEED,
    epochs: int = DEFAULT_EPOCHS,
    hidden: int = DEFAULT_HIDDEN,
    layers: int = DEFAULT_LAYERS,
    batch_size: int = DEFAULT_BATCH,
    lr: float = DEFAULT_LR,
) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """Fit a :class:`BCNet` to ``(obs, past) -> actions`` by cross-entropy; returns
    ``(net_kwargs, state_dict)``.

    Deterministic given ``seed``: the initial weights and the minibatch order come from
    generators seeded with it, and training runs on the CPU with one thread (so the float
    reductions do not depend on the machine's thread count; a different CPU's kernels may
    still round differently, which is why holdout sets cache the trained weights).
    """
    n = obs.shape[0]
    if n == 0 or actions.shape[0] != n or past.shape[0] != n or past.dim() != 2:
        raise EnvArgumentError(
            f"train_bc needs as many actions and [N, history] past actions as observations "
            f"(> 0), got {n} observations, {tuple(past.shape)} past actions and "
            f"{actions.shape[0]} actions"
        )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        kwargs = bc_net_kwargs(tuple(obs.shape[1:]), past.shape[1], hidden, layers)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            net = BCNet(**kwargs)
        _fit(net, obs.cpu(), past.cpu(), actions.cpu(), seed, epochs, batch_size, lr)
    finally:
        torch.set_num_threads(threads)
    return kwargs, {k: v.detach().clone() for k, v in net.state_dict().items()}


def _fit(
    net: BCNet,
    obs: Tensor,
    past: Tensor,
    actions: Tensor,
    seed: int,
    epochs: int,
    batch_size: int,
    lr: float,
) -> None:
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(int(seed))
    x, y = obs.float(), actions.to(torch.int64)
    net.train()
    for _ in range(int(epochs)):
        order = torch.randperm(x.shape[0], generator=generator)
        for start in range(0, x.shape[0], batch_size):
            batch = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(net(x[batch], past[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    net.eval()


def rebuild_bc(net_kwargs: dict[str, Any], state_dict: dict[str, Tensor]) -> BCNet:
    """The network of a :func:`train_bc` result."""
    try:
        net = BCNet(**net_kwargs)
        net.load_state_dict(state_dict)
    except (TypeError, ValueError, RuntimeError) as error:
        raise EnvArgumentError(f"BC proxy weights do not fit {net_kwargs}: {error}") from None
    return net.eval()


# ---------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate_bc(
    net: BCNet,
    obs: Tensor,
    past: Tensor,
    actions: Tensor,
    train_actions: Tensor,
    exclude_stay: bool = False,
) -> dict[str, float]:
    """Accuracy and mean NLL of ``net`` on ``(obs, past, actions)``, and the same for the
    majority baseline fitted on ``train_actions`` (accuracy of always predicting its most
    frequent action; NLL of predicting its action frequencies). ``exclude_stay``: predict the
    most likely action other than 'stay' (for samples where the human did not stay; the NLL
    is then not meaningful)."""
    logits = torch.cat([net(o, p) for o, p in zip(obs.split(4096), past.split(4096), strict=True)])
    if exclude_stay:  # "which action, given that the human acted"
        logits[:, STAY] = -torch.inf
    counts = torch.bincount(train_actions, minlength=NUM_ACTIONS).double()
    frequencies = (counts + 1) / (counts.sum() + NUM_ACTIONS)  # add-one: no zero probability
    majority = int(counts.argmax())
    return {
        "accuracy": float((logits.argmax(-1) == actions).float().mean()),
        "nll": float(nn.functional.cross_entropy(logits, actions)),
        "majority_action": majority,
        "majority_accuracy": float((actions == majority).float().mean()),
        "majority_nll": float(-frequencies.log()[actions].mean()),
    }


@dataclass(frozen=True)
class HumanProxy:
    """A trained proxy for one layout and its accuracy numbers."""

    layout: str
    net_kwargs: dict[str, Any]
    state_dict: dict[str, Tensor]
    metrics: dict[str, Any]


def train_human_proxy(
    layout_name: str,
    seed: int = PROXY_SEED,
    epochs: int = DEFAULT_EPOCHS,
    history: int = HISTORY,
    **train_kwargs: Any,
) -> HumanProxy:
    """Train on the layout's train split and score on both splits.

    ``history``: how many of the player's past actions the net sees; ``train_kwargs`` go to
    :func:`train_bc` (``hidden``, ``layers``, ``batch_size``, ``lr``).

    ``metrics`` (rounded to 4 digits): ``train_samples``/``test_samples``; on all samples
    ``train_accuracy``, ``test_accuracy``, ``majority_test_accuracy`` (the majority action is
    the train split's, ``majority_action``), ``test_nll`` and ``majority_test_nll``; and
    ``active_*`` accuracies over the samples whose recorded action is not 'stay': the proxy
    predicts its most likely action other than 'stay', the baseline the most frequent such
    action of the train split (``active_majority_action``).
    """
    train_obs, train_past, train_actions = human_samples(layout_name, "train", history)
    test_obs, test_past, test_actions = human_samples(layout_name, "test", history)
    kwargs, state = train_bc(train_obs, train_past, train_actions, seed, epochs, **train_kwargs)
    net = rebuild_bc(kwargs, state)
    on_train = evaluate_bc(net, train_obs, train_past, train_actions, train_actions)
    on_test = evaluate_bc(net, test_obs, test_past, test_actions, train_actions)
    train_active, test_active = train_actions != STAY, test_actions != STAY
    active = evaluate_bc(
        net,
        test_obs[test_active],
        test_past[test_active],
        test_actions[test_active],
        train_actions[train_active],
        exclude_stay=True,
    )
    metrics: dict[str, Any] = {
        "train_samples": int(train_actions.numel()),
        "test_samples": int(test_actions.numel()),
        "train_accuracy": round(on_train["accuracy"], 4),
        "test_accuracy": round(on_test["accuracy"], 4),
        "majority_action": ACTION_NAMES[on_test["majority_action"]],
        "majority_test_accuracy": round(on_test["majority_accuracy"], 4),
        "test_nll": round(on_test["nll"], 4),
        "majority_test_nll": round(on_test["majority_nll"], 4),
        "active_test_accuracy": round(active["accuracy"], 4),
        "active_majority_action": ACTION_NAMES[active["majority_action"]],
        "active_majority_test_accuracy": round(active["majority_accuracy"], 4),
    }
    return HumanProxy(layout_name, kwargs, state, metrics)


# ------------------------------------------------------------------- the partner
class BCProxyPolicy:
    """A stochastic :class:`~xpm_bench.agents.base.Policy` around a :class:`BCNet`: samples
    from the softmax with its own seeded generator; the carry is its own last actions
    (``int64 [B, history]``, most recent first, 'stay' at the start of an episode)."""

    def __init__(self, net: BCNet, seed: int = 0, name: str = "bc-human-proxy"):
        self.net, self.name = net.eval(), name
        self.generator = torch.Generator().manual_seed(int(seed))

    def reseed(self, seed: int) -> None:
        self.generator.manual_seed(int(seed))

    def reset_carry(self, batch: int) -> Tensor:
        return torch.full((batch, self.net.history), STAY, dtype=torch.int64)

    @torch.no_grad()
    def act(self, obs: Tensor, carry: Tensor | None = None) -> tuple[Tensor, Tensor]:
        past = self.reset_carry(obs.shape[0]) if carry is None else carry.to(torch.int64).cpu()
        action = sample_actions(self.net(obs.cpu(), past), self.generator)
        carry = torch.cat([action.unsqueeze(1), past[:, :-1]], dim=1)
        return action.to(obs.device), carry


def format_metrics(layout: str, metrics: dict[str, Any]) -> str:
    """One line: test accuracy and NLL against the majority baseline, then active samples."""
    return (
        f"{layout:26s} test acc {metrics['test_accuracy']:.3f} vs majority"
        f"({metrics['majority_action']}) {metrics['majority_test_accuracy']:.3f} | "
        f"nll {metrics['test_nll']:.3f} vs {metrics['majority_test_nll']:.3f} | "
        f"active acc {metrics['active_test_accuracy']:.3f} vs majority"
        f"({metrics['active_majority_action']}) {metrics['active_majority_test_accuracy']:.3f}"
        f" | train acc {metrics['train_accuracy']:.3f}"
    )


def main() -> None:  # pragma: no cover - a manual report, ``python -m``
    """Train every classic layout's proxy and print its accuracies."""
    from xpm_bench.envs import OVERCOOKED_LAYOUTS

    torch.set_num_threads(1)
    for layout in OVERCOOKED_LAYOUTS.values():
        print(format_metrics(layout, train_human_proxy(layout).metrics), flush=True)


if __name__ == "__main__":  # pragma: no cover
    main()


__all__ = [
    "ACTION_NAMES",
    "BCNet",
    "BCProxyPolicy",
    "HumanProxy",
    "evaluate_bc",
    "human_action_history",
    "human_dataset",
    "human_samples",
    "train_bc",
    "train_human_proxy",
]
