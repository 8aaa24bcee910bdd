"""Record an episode of two policies as frames, and save frames as a GIF."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from PIL import Image

from xpm_bench.agents.base import Policy
from xpm_bench.io import atomic_path
from xpm_bench.registry import make


def episode_frames(
    env_id: str,
    seat0: Policy,
    seat1: Policy,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
) -> tuple[list[np.ndarray], float]:
    """Play one episode; return its rgb frames (start and final state included) and the team
    return."""
    env = make(env_id, num_envs=1, **(env_kwargs or {}))
    env.autoreset = False  # keep the final state on screen
    obs, _ = env.reset(seed=seed)
    carries = [_initial_carry(seat0), _initial_carry(seat1)]
    frames = [env.render("rgb_array")]
    total = 0.0
    done = False
    while not done:
        with torch.no_grad():
            a0, carries[0] = seat0.act(obs[:, 0], carries[0])
            a1, carries[1] = seat1.act(obs[:, 1], carries[1])
        obs, reward, term, trunc, _ = env.step(torch.stack([a0, a1], dim=1).cpu())
        total += float(reward[0, 0])
        done = bool(term[0] | trunc[0])
        frames.append(env.render("rgb_array"))
    return frames, total


def _initial_carry(policy: Policy) -> Any:
    reset_carry = getattr(policy, "reset_carry", None)
    return reset_carry(1) if reset_carry else None


def save_gif(frames: list[np.ndarray], path: str | os.PathLike, fps: int = 6) -> None:
    """Write ``frames`` as a looping GIF, atomically."""
    images = [Image.fromarray(frame) for frame in frames]
    with atomic_path(path) as tmp:
        images[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=int(1000 / fps),
            loop=0,
        )
