"""Policy and critic networks, a fixed registry of architecture names, and ``NetPolicy``.

A population member is stored as ``(arch name, arch kwargs, state_dict)``. The name must be a
key of :data:`ARCHITECTURES` and the kwargs plain values (ints, floats, bools, strings, lists of
those), so a population file can rebuild any member without running code from the file.

Every actor network has the same interface::

    logits, carry = net(obs, carry)              # obs: [N, *obs_shape] (any dtype), carry: [N, H] | None
    logits = net.unroll(obs, start_carry, starts)  # obs: [T, N, *obs_shape], starts: [T, N] bool

``unroll`` replays a time-major sequence and resets the recurrent state where ``starts`` is
true (first step of an episode); feed-forward nets ignore the carry. Critics are centralised:
they see both seats' observations, ego first, ``[N, 2, *obs_shape] -> [N]``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from xpm_bench.errors import PopulationFileError

Tensor = torch.Tensor


def _as_float(obs: Tensor) -> Tensor:
    # Grid observations arrive as uint8 counts; the network works in float32.
    return obs if obs.dtype == torch.float32 else obs.float()


def mlp_stack(
    in_dim: int, hidden: int, layers: int, activation: type[nn.Module] = nn.Tanh
) -> nn.Sequential:
    """``layers`` x (``Linear`` to ``hidden`` units, ``activation``); empty when ``layers`` is 0."""
    mods: list[nn.Module] = []
    dim = in_dim
    for _ in range(layers):
        mods += [nn.Linear(dim, hidden), activation()]
        dim = hidden
    return nn.Sequential(*mods)


def _init_linear(module: nn.Module, gain: float) -> None:
    # Orthogonal init with small output gains, as in most PPO implementations: the policy
    # starts close to uniform and the value close to zero.
    if isinstance(module, nn.Linear | nn.Conv2d):
        nn.init.orthogonal_(module.weight, gain)
        nn.init.zeros_(module.bias)


class _Core(nn.Module):
    """Encoder -> optional GRU -> head. Subclasses build ``self.encoder`` and set ``feat_dim``."""

    encoder: nn.Module
    feat_dim: int

    def _finish(self, out_dim: int, gru: int, out_gain: float) -> None:
        self.gru_size = int(gru)
        self.gru = nn.GRUCell(self.feat_dim, self.gru_size) if self.gru_size > 0 else None
        head_in = self.gru_size if self.gru is not None else self.feat_dim
        self.head = nn.Linear(head_in, out_dim)
        for module in self.encoder.modules():
            _init_linear(module, math.sqrt(2))
        _init_linear(self.head, out_gain)

    @property
    def recurrent(self) -> bool:
        return self.gru is not None

    def initial_carry(self, batch: int, device: str | torch.device = "cpu") -> Tensor | None:
        """The start-of-episode carry for ``batch`` rows (``None`` for feed-forward nets)."""
        if self.gru is None:
            return None
        return torch.zeros(batch, self.gru_size, device=device)

    def forward(self, obs: Tensor, carry: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        feat = self.encoder(_as_float(obs))
        if self.gru is not None:
            if carry is None:
                carry = self.initial_carry(obs.shape[0], obs.device)
            carry = self.gru(feat, carry)
            feat = carry
        return self.head(feat), carry

    def unroll(self, obs: Tensor, start_carry: Tensor | None, starts: Tensor) -> Tensor:
        """Outputs for a time-major sequence ``obs[T, N, ...]``, resetting where ``starts``."""
        t_len, n = obs.shape[:2]
        if self.gru is None:
            out, _ = self.forward(obs.reshape(t_len * n, *obs.shape[2:]))
            return out.view(t_len, n, -1)
        feat = self.encoder(_as_float(obs.reshape(t_len * n, *obs.shape[2:]))).view(t_len, n, -1)
        carry = start_carry if start_carry is not None else self.initial_carry(n, obs.device)
        outs = []
        for t in range(t_len):
            carry = carry * (~starts[t]).unsqueeze(-1).float()
            carry = self.gru(feat[t], carry)
            outs.append(carry)
        return self.head(torch.stack(outs)).view(t_len, n, -1)


class MLPNet(_Core):
    """Tanh MLP over a flat observation (MPPMR and any vector observation)."""

    def __init__(
        self,
        obs_shape: list[int] | tuple[int, ...],
        num_outputs: int,
        hidden: int = 64,
        layers: int = 2,
        gru: int = 0,
        out_gain: float = 0.01,
    ):
        super().__init__()
        self.obs_shape = tuple(int(d) for d in obs_shape)
        self.feat_dim = int(hidden)
        in_dim = math.prod(self.obs_shape)
        self.encoder = nn.Sequential(nn.Flatten(), mlp_stack(in_dim, hidden, layers))
        self._finish(num_outputs, gru, out_gain)


class CNNNet(_Core):
    """Conv net over a channels-first grid ``[C, W, H]`` (the Overcooked lossless encoding).

    Three 'same'-padded conv layers (5x5, 3x3, 3x3 with ``channels`` filters, leaky ReLU) then
    ``layers`` dense layers of ``hidden`` units: the layout used by the Overcooked PPO
    baselines (human_aware_rl, HiPT), small enough for CPU training.
    """

    def __init__(
        self,
        obs_shape: list[int] | tuple[int, ...],
        num_outputs: int,
        channels: int = 25,
        hidden: int = 64,
        layers: int = 2,
        gru: int = 0,
        out_gain: float = 0.01,
    ):
        super().__init__()
        self.obs_shape = tuple(int(d) for d in obs_shape)
        if len(self.obs_shape) != 3:
            raise ValueError(f"CNNNet needs obs_shape [C, W, H], got {list(self.obs_shape)}")
        c, w, h = self.obs_shape
        convs = nn.Sequential(
            nn.Conv2d(c, channels, 5, padding=2),
            nn.LeakyReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.LeakyReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.LeakyReLU(),
            nn.Flatten(),
        )
        dense: list[nn.Module] = []
        dim = channels * w * h
        for _ in range(layers):
            dense += [nn.Linear(dim, hidden), nn.LeakyReLU()]
            dim = hidden
        self.encoder = nn.Sequential(convs, *dense)
        self.feat_dim = int(hidden)
        self._finish(num_outputs, gru, out_gain)


class CentralCritic(nn.Module):
    """A value network over both seats' observations ``[N, 2, *obs_shape] -> [N]``.

    The two views are stacked ego first (MLP: concatenated; CNN: along channels), so one
    critic serves either seat. Centralised critics are used only in training (CTDE); members
    store their actors only.
    """

    def __init__(self, arch: str, arch_kwargs: dict[str, Any]):
        super().__init__()
        kwargs = {k: v for k, v in arch_kwargs.items() if k not in ("gru", "out_gain")}
        obs_shape = [int(d) for d in kwargs.pop("obs_shape")]
        kwargs.pop("num_outputs", None)
        joint_shape = [2 * obs_shape[0], *obs_shape[1:]]
        self.net = ARCHITECTURES[arch](joint_shape, 1, out_gain=1.0, **kwargs)

    def forward(self, joint_obs: Tensor) -> Tensor:
        flat = joint_obs.reshape(joint_obs.shape[0], -1, *joint_obs.shape[3:])
        value, _ = self.net(flat)
        return value.squeeze(-1)


ARCHITECTURES: dict[str, type[_Core]] = {"mlp": MLPNet, "cnn": CNNNet}
"""Architecture name -> class. Population files name one of these; nothing else is built."""

_PLAIN = (int, float, bool, str)


def _check_plain(value: Any, where: str) -> None:
    if isinstance(value, _PLAIN) or value is None:
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    raise PopulationFileError(f"{where} must be a plain value, got {type(value).__name__}")


def build_network(arch: str, arch_kwargs: dict[str, Any], where: str = "arch") -> _Core:
    """Build an actor network from a registry name and plain keyword arguments.

    Raises :class:`PopulationFileError` naming ``where`` if the name is unknown or the
    arguments do not fit the constructor.
    """
    if not isinstance(arch, str) or arch not in ARCHITECTURES:
        raise PopulationFileError(
            f"{where}: unknown architecture {arch!r}; accepted: {', '.join(ARCHITECTURES)}"
        )
    if not isinstance(arch_kwargs, dict) or not all(isinstance(k, str) for k in arch_kwargs):
        raise PopulationFileError(f"{where}_kwargs must be a dict with string keys")
    for key, value in arch_kwargs.items():
        _check_plain(value, f"{where}_kwargs[{key!r}]")
    try:
        return ARCHITECTURES[arch](**arch_kwargs)
    except (TypeError, ValueError, RuntimeError) as error:
        raise PopulationFileError(
            f"{where}_kwargs do not fit architecture {arch!r}: {error}"
        ) from None


def default_arch(
    obs_shape: tuple[int, ...], num_actions: int, **overrides: Any
) -> tuple[str, dict]:
    """The default architecture for an observation shape: CNN for ``[C, W, H]``, else MLP."""
    kwargs: dict[str, Any] = {"obs_shape": list(obs_shape), "num_outputs": int(num_actions)}
    kwargs.update(overrides)
    return ("cnn" if len(obs_shape) == 3 else "mlp"), kwargs


class NetPolicy:
    """A :class:`~xpm_bench.agents.base.Policy` around an actor network.

    ``act`` samples from the softmax of the logits with the policy's own seeded generator
    (or takes the argmax when ``deterministic``). The network is ``policy.net``: trainers call
    it directly for logits.
    """

    def __init__(
        self,
        net: _Core,
        deterministic: bool = False,
        seed: int = 0,
        device: str | torch.device = "cpu",
        name: str = "",
    ):
        self.device = torch.device(device)
        self.net = net.to(self.device)
        self.deterministic = deterministic
        self.name = name
        self.generator = torch.Generator(device=self.device).manual_seed(int(seed))

    @property
    def recurrent(self) -> bool:
        return self.net.recurrent

    def reseed(self, seed: int) -> None:
        """Make future sampled actions a function of ``seed``."""
        self.generator.manual_seed(int(seed))

    def reset_carry(self, batch: int) -> Tensor | None:
        """Start-of-episode carry for ``batch`` rows (``None`` if feed-forward)."""
        return self.net.initial_carry(batch, self.device)

    def logits(self, obs: Tensor, carry: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Raw action logits and the next carry."""
        return self.net(obs.to(self.device), carry)

    @torch.no_grad()
    def act(self, obs: Tensor, carry: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        logits, carry = self.logits(obs, carry)
        if self.deterministic:
            return logits.argmax(dim=-1), carry
        return sample_actions(logits, self.generator), carry


def sample_actions(logits: Tensor, generator: torch.Generator) -> Tensor:
    """One categorical sample per row of ``logits`` (Gumbel-max with an explicit generator)."""
    u = torch.rand(logits.shape, generator=generator, device=logits.device).clamp_min(1e-20)
    gumbel = -torch.log((-torch.log(u)).clamp_min(1e-20))
    return (logits + gumbel).argmax(dim=-1)
