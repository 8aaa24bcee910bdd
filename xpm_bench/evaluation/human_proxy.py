"""Behaviour-cloned human proxies for the Overcooked holdout sets.

The 2019 human-human trials shipped with overcooked-ai (:func:`xpm_bench.envs.reference.
load_human_data`) have a train and a test split. For each classic layout:

- :func:`human_dataset` turns every recorded transition into two samples, one per player: the
  engine's lossless observation of the recorded state from that player's seat (ego first) and
  the action index the player took (``Action.ALL_ACTIONS`` order: north, south, east, west,
  stay, interact). No transition is dropped. The recorded states carry no episode timestep, so
  the observation's urgency plane is always off (as it is for all but the last 40 steps of an
  episode).
- :func:`train_bc` fits an actor network of :data:`~xpm_bench.agents.networks.ARCHITECTURES`
  with cross-entropy and Adam, deterministically given the seed.
- 'stay' is 50-72% of the recorded actions, depending on the layout (72% on cramped_room),
  so a net trained on everything learns little more than "stay" and on cramped_room barely
  reaches the majority baseline. As BC pipelines for this data commonly do, idling is
  undersampled: :func:`undersample_stay` keeps every non-stay sample and a seeded random
  subset of the stay samples as large as the most frequent other action. The proxy therefore
  idles less often than the humans did and moves/interacts like them.
- :func:`evaluate_bc` reports action accuracy (argmax of the logits) and the accuracy of
  always predicting the train split's most frequent action. :func:`train_human_proxy` reports
  both on all test samples and on the *active* ones (the human did not stay), where the
  majority baseline is 22-36% and the proxy reaches about 58-66%; on all samples the 'stay'
  majority is above the proxy's accuracy, since the proxy was trained not to idle.
- :func:`train_human_proxy` does all three for one layout; :func:`bc_human_proxies` is the
  holdout partner group (one stochastic proxy per env, trained on first use, memoised in the
  process; the holdout cache then stores its weights so it is trained only once per cache).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import torch
from torch import nn

from xpm_bench.agents.networks import NetPolicy, build_network
from xpm_bench.errors import EnvArgumentError

Tensor = torch.Tensor

NUM_ACTIONS = 6
ACTION_NAMES = ("north", "south", "east", "west", "stay", "interact")
STAY = ACTION_NAMES.index("stay")

# The defaults the holdout recipe uses; changing any of them changes the trained weights and
# so needs a new recipe version.
DEFAULT_ARCH = "mlp"
DEFAULT_HIDDEN = 128
DEFAULT_LAYERS = 2
DEFAULT_EPOCHS = 8
DEFAULT_BATCH = 256
DEFAULT_LR = 3e-3
PROXY_SEED = 0


# ------------------------------------------------------------------------- dataset
def human_dataset(layout_name: str, split: str) -> tuple[Tensor, Tensor]:
    """Observations ``uint8 [N, 26, W, H]`` and actions ``int64 [N]`` of the recorded humans.

    ``layout_name`` is a shipped layout name (``cramped_room``, ..., ``counter_circuit_o_1order``;
    the 2019 data's ``random0``/``random3`` map to ``forced_coordination`` and
    ``counter_circuit_o_1order``). Sample ``2 i + p`` is player ``p`` of the ``i``-th recorded
    transition of the layout (in the recording's row order).
    """
    from xpm_bench.envs.reference import (
        from_reference,
        human_joint_action,
        load_human_data,
        parse_state_string,
    )
    from xpm_bench.registry import make

    frame = load_human_data(split)
    rows = frame[frame["layout_id"] == layout_name]
    if len(rows) == 0:
        known = sorted(frame["layout_id"].dropna().unique())
        raise EnvArgumentError(
            f"no human data for layout {layout_name!r}; layouts with data: {', '.join(known)}"
        )
    # The humans played under the 2019 rule (pots cook once full): the classic engine.
    env = make("OvercookedClassic-v0", num_envs=len(rows), layout=layout_name, copy_obs=True)
    env.reset()
    env.set_state(from_reference([parse_state_string(s) for s in rows["state"]], env))
    obs = env._observe().clone()  # [n, 2, C, W, H], each seat ego first
    actions = torch.tensor([human_joint_action(a) for a in rows["joint_action"]])  # [n, 2]
    return obs.reshape(-1, *obs.shape[2:]), actions.reshape(-1).to(torch.int64)


# ------------------------------------------------------------------------ training
def bc_arch_kwargs(
    obs_shape: tuple[int, ...],
    arch: str = DEFAULT_ARCH,
    hidden: int = DEFAULT_HIDDEN,
    layers: int = DEFAULT_LAYERS,
) -> dict[str, Any]:
    """Plain keyword arguments of a BC network for ``obs_shape`` (stored in partner specs)."""
    kwargs: dict[str, Any] = {
        "obs_shape": [int(d) for d in obs_shape],
        "num_outputs": NUM_ACTIONS,
        "hidden": int(hidden),
        "layers": int(layers),
    }
    if arch not in ("mlp", "cnn"):
        raise EnvArgumentError(f"BC supports the 'mlp' and 'cnn' architectures, got {arch!r}")
    return kwargs


def undersample_stay(actions: Tensor, seed: int = PROXY_SEED) -> Tensor:
    """Sorted sample indices: every non-stay sample plus a seeded random subset of the 'stay'
    samples as large as the count of the most frequent other action."""
    active = actions != STAY
    stay = torch.nonzero(~active).squeeze(1)
    counts = torch.bincount(actions[active], minlength=NUM_ACTIONS)
    generator = torch.Generator().manual_seed(int(seed))
    keep = stay[torch.randperm(stay.numel(), generator=generator)[: int(counts.max())]]
    return torch.cat([torch.nonzero(active).squeeze(1), keep]).sort().values


def train_bc(
    obs: Tensor,
    actions: Tensor,
    seed: int = PROXY_SEED,
    epochs: int = DEFAULT_EPOCHS,
    arch: str = DEFAULT_ARCH,
    hidden: int = DEFAULT_HIDDEN,
    layers: int = DEFAULT_LAYERS,
    batch_size: int = DEFAULT_BATCH,
    lr: float = DEFAULT_LR,
) -> tuple[str, dict[str, Any], dict[str, Tensor]]:
    """Fit a policy network to ``(obs, actions)`` by cross-entropy; returns
    ``(arch, arch_kwargs, state_dict)``.

    Deterministic given ``seed``: the initial weights and the minibatch order come from
    generators seeded with it, and training runs on the CPU with one thread (so the float
    reductions do not depend on the machine's thread count; a different CPU's kernels may
    still round differently, which is why holdout sets cache the trained weights).
    """
    if obs.shape[0] != actions.shape[0] or obs.shape[0] == 0:
        raise EnvArgumentError(
            f"train_bc needs as many actions as observations (> 0), got {obs.shape[0]} "
            f"observations and {actions.shape[0]} actions"
        )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _fit(obs.cpu(), actions.cpu(), seed, epochs, arch, hidden, layers, batch_size, lr)
    finally:
        torch.set_num_threads(threads)


def _fit(
    obs: Tensor,
    actions: Tensor,
    seed: int,
    epochs: int,
    arch: str,
    hidden: int,
    layers: int,
    batch_size: int,
    lr: float,
) -> tuple[str, dict[str, Any], dict[str, Tensor]]:
    kwargs = bc_arch_kwargs(tuple(obs.shape[1:]), arch, hidden, layers)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = build_network(arch, kwargs)
        # the network's default output gain (0.01) suits PPO's near-uniform start; BC wants a
        # normally scaled head so the logits can move quickly
        nn.init.orthogonal_(net.head.weight, 1.0)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(int(seed))
    loss_fn = nn.CrossEntropyLoss()
    x = obs.float()
    y = actions.to(torch.int64)
    n = x.shape[0]
    net.train()
    for _ in range(int(epochs)):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            logits, _ = net(x[batch])
            loss = loss_fn(logits, y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    net.eval()
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    return arch, kwargs, state


def rebuild_bc(arch: str, arch_kwargs: dict[str, Any], state_dict: dict[str, Tensor]) -> nn.Module:
    """The network of a :func:`train_bc` result."""
    net = build_network(arch, arch_kwargs)
    net.load_state_dict(state_dict)
    net.eval()
    return net


# ---------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate_bc(
    arch: str,
    arch_kwargs: dict[str, Any],
    state_dict: dict[str, Tensor],
    obs: Tensor,
    actions: Tensor,
    train_actions: Tensor | None = None,
) -> dict[str, float]:
    """Action accuracy of the network's argmax on ``(obs, actions)`` and the majority baseline.

    The baseline always predicts the most frequent action of ``train_actions`` (of ``actions``
    itself when not given) and is scored on ``actions``.
    """
    net = rebuild_bc(arch, arch_kwargs, state_dict)
    predicted = torch.cat([net(chunk)[0].argmax(-1) for chunk in obs.split(4096)])
    reference = actions if train_actions is None else train_actions
    majority = int(torch.bincount(reference, minlength=NUM_ACTIONS).argmax())
    return {
        "accuracy": float((predicted == actions).float().mean()),
        "majority_action": majority,
        "majority_accuracy": float((actions == majority).float().mean()),
    }


@dataclass(frozen=True)
class HumanProxy:
    """A trained proxy for one layout and its accuracy numbers."""

    layout: str
    arch: str
    arch_kwargs: dict[str, Any]
    state_dict: dict[str, Tensor]
    metrics: dict[str, Any]


def train_human_proxy(
    layout_name: str, seed: int = PROXY_SEED, epochs: int = DEFAULT_EPOCHS, **train_kwargs: Any
) -> HumanProxy:
    """Train on the layout's train split (stay undersampled) and score on both splits.

    ``metrics`` (fractions rounded to 4 digits): ``train_samples``/``test_samples`` (all
    recorded samples), ``fit_samples`` (after undersampling 'stay'), ``train_accuracy``,
    ``test_accuracy`` and ``majority_test_accuracy`` over all samples (the majority action is
    the train split's, ``majority_action``), and ``active_*`` the same over the samples whose
    recorded action is not 'stay' (``active_majority_action``: their most frequent action).
    """
    train_obs, train_actions = human_dataset(layout_name, "train")
    test_obs, test_actions = human_dataset(layout_name, "test")
    fit = undersample_stay(train_actions, seed)
    arch, kwargs, state = train_bc(train_obs[fit], train_actions[fit], seed, epochs, **train_kwargs)
    metrics: dict[str, Any] = {
        "train_samples": int(train_actions.numel()),
        "test_samples": int(test_actions.numel()),
        "fit_samples": int(fit.numel()),
    }
    train_active, test_active = train_actions != STAY, test_actions != STAY
    for prefix, train_mask, test_mask in (
        ("", torch.ones_like(train_active), torch.ones_like(test_active)),
        ("active_", train_active, test_active),
    ):
        on_train = evaluate_bc(
            arch, kwargs, state, train_obs[train_mask], train_actions[train_mask]
        )
        on_test = evaluate_bc(
            arch,
            kwargs,
            state,
            test_obs[test_mask],
            test_actions[test_mask],
            train_actions[train_mask],
        )
        metrics[f"{prefix}train_accuracy"] = round(on_train["accuracy"], 4)
        metrics[f"{prefix}test_accuracy"] = round(on_test["accuracy"], 4)
        metrics[f"{prefix}majority_action"] = ACTION_NAMES[on_test["majority_action"]]
        metrics[f"{prefix}majority_test_accuracy"] = round(on_test["majority_accuracy"], 4)
    return HumanProxy(layout_name, arch, kwargs, state, metrics)


# --------------------------------------------------------------- holdout partners
@cache
def _memoised_proxy(layout_name: str, seed: int, epochs: int) -> HumanProxy:
    # one training per layout and process: the CLI and tests build several sets per run
    return train_human_proxy(layout_name, seed, epochs)


def human_proxy_spec(env_id: str, seed: int = PROXY_SEED, epochs: int = DEFAULT_EPOCHS) -> Any:
    """The :class:`~xpm_bench.evaluation.holdout.PartnerSpec` of ``env_id``'s BC human proxy."""
    from xpm_bench.evaluation.holdout import (
        CLASSIC_OVERCOOKED_LAYOUTS,
        PartnerSpec,
        env_family,
    )

    _, variant = env_family(env_id)
    if variant not in CLASSIC_OVERCOOKED_LAYOUTS:
        raise EnvArgumentError(
            f"no human data for {env_id!r}: BC human proxies exist for the classic layouts "
            f"{', '.join(CLASSIC_OVERCOOKED_LAYOUTS)}"
        )
    proxy = _memoised_proxy(CLASSIC_OVERCOOKED_LAYOUTS[variant], int(seed), int(epochs))
    params = {
        "arch": proxy.arch,
        "arch_kwargs": proxy.arch_kwargs,
        "seed": int(seed),
        "layout": proxy.layout,
        "data": "overcooked-ai 2019 human-human trials (clean_train_trials / clean_test_trials)",
        "train_seed": int(seed),
        "epochs": int(epochs),
        **proxy.metrics,
    }
    weights = {k: v.clone() for k, v in proxy.state_dict.items()}
    return PartnerSpec("bc-human-proxy", "bc-human-proxy", "bc-human-proxy", params, weights)


def bc_human_proxies(env_id: str) -> list[Any]:
    """Holdout partner group: the BC human proxy of ``env_id``'s classic layout."""
    return [human_proxy_spec(env_id)]


def build_bc_proxy_policy(spec: Any, env_id: str) -> NetPolicy:
    """Partner builder: a stochastic :class:`NetPolicy` (sampling from the BC softmax)."""
    params = spec.params
    net = rebuild_bc(params["arch"], params["arch_kwargs"], spec.weights)
    return NetPolicy(net, deterministic=False, seed=int(params.get("seed", 0)), name=spec.name)


def format_metrics(layout: str, metrics: dict[str, Any]) -> str:
    """One line of accuracies: all samples, then active (non-stay) samples."""
    return (
        f"{layout:26s} all: train {metrics['train_accuracy']:.3f} "
        f"test {metrics['test_accuracy']:.3f} "
        f"majority({metrics['majority_action']}) {metrics['majority_test_accuracy']:.3f} | "
        f"active: train {metrics['active_train_accuracy']:.3f} "
        f"test {metrics['active_test_accuracy']:.3f} "
        f"majority({metrics['active_majority_action']}) "
        f"{metrics['active_majority_test_accuracy']:.3f}"
    )


def main() -> None:  # pragma: no cover - a manual report, ``python -m``
    """Train every classic layout's proxy and print its accuracies."""
    from xpm_bench.evaluation.holdout import CLASSIC_OVERCOOKED_LAYOUTS

    torch.set_num_threads(1)
    for layout in CLASSIC_OVERCOOKED_LAYOUTS.values():
        print(format_metrics(layout, train_human_proxy(layout).metrics), flush=True)


if __name__ == "__main__":  # pragma: no cover
    main()


__all__ = [
    "ACTION_NAMES",
    "HumanProxy",
    "bc_human_proxies",
    "build_bc_proxy_policy",
    "evaluate_bc",
    "human_dataset",
    "human_proxy_spec",
    "train_bc",
    "train_human_proxy",
    "undersample_stay",
]
