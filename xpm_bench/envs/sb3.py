"""Stable-Baselines3 adapter: SB3's algorithms take their own ``VecEnv`` class, not a
Gymnasium ``VectorEnv``, so :func:`to_sb3` wraps a :class:`~xpm_bench.envs.vector.VectorView`
in one (SB3 is an optional dependency: ``pip install stable-baselines3``)::

    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor
    venv = VecMonitor(to_sb3(xpm_bench.make_vec("MPPMR-v0", 64, partner=population)))
    PPO("MlpPolicy", venv).learn(100_000)

The two APIs differ only in bookkeeping, which this adapter translates: SB3's ``reset()``
returns observations alone and takes seeds from :meth:`VecEnv.seed`; ``step_wait`` returns
``(obs, rewards, dones, infos)`` with one info dict per copy, ``dones = terminated |
truncated``, and for finished copies ``infos[i]["terminal_observation"]`` and
``infos[i]["TimeLimit.truncated"]``. Both use same-step autoreset, so the observations need
no shifting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv

from xpm_bench.envs.vector import VectorView


class SB3VecEnv(VecEnv):
    """SB3's ``VecEnv`` interface over a :class:`VectorView`."""

    def __init__(self, venv: VectorView):
        self.venv = venv
        self.render_mode = None
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._actions: np.ndarray | None = None

    def reset(self) -> np.ndarray:
        seed = self._seeds[0]  # VecEnv.seed gives seed + i per copy; the view takes one seed
        obs, info = self.venv.reset(seed=seed)
        self.reset_infos = [{"seat": int(s)} for s in info["seat"]]
        self._reset_seeds()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self):
        obs, rewards, terminated, truncated, info = self.venv.step(self._actions)
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i in np.flatnonzero(dones):
            infos[i]["terminal_observation"] = info["final_obs"][i]
            infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        return obs, rewards.astype(np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()

    # SB3 reaches into sub-environments through these; the view has none.
    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        if attr_name == "render_mode":
            return [None] * len(self._indices(indices))
        raise AttributeError(
            f"{type(self).__name__} has no sub-environment attribute {attr_name!r}"
        )

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        raise AttributeError(f"{type(self).__name__} cannot set sub-environment attributes")

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any):
        raise AttributeError(f"{type(self).__name__} has no sub-environment methods")

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(self._indices(indices))

    def _indices(self, indices: Any) -> Sequence[int]:
        if indices is None:
            return range(self.num_envs)
        return [indices] if isinstance(indices, int) else list(indices)


def to_sb3(venv: VectorView) -> SB3VecEnv:
    """Wrap a :func:`xpm_bench.make_vec` view for Stable-Baselines3."""
    return SB3VecEnv(venv)
