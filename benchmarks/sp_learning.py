"""Self-play PPO learning curve on Overcooked Cramped Room, on this machine's CPU.

Trains one self-play agent with an ``sp`` preset (``default``: JaxMARL IPPO's batch shape and
shaped reward with lr 1e-3; ``hipt``: HiPT's settings) for at most ``--budget-s`` seconds of wall clock or the preset's env-step
budget, and prints after every update: env steps, wall-clock seconds, the mean *sparse* return
of the episodes that finished in that update (20 per delivered soup), and the training loop's
env steps/s. For reference it also measures, in the same run, the env alone stepping random
actions with the same number of copies (the ratio says what share of time is learning).

Targets: issue 4, mean sparse return >= 100 (5 soups in 400 steps) within 15 minutes; issue 9,
100 within 20 s and 0.6M steps, and more than JaxMARL IPPO's 240 at 3M steps (its 100 came after
0.54M steps, ~11 s on one core of this 2-core machine). The machine is shared: every row also
has the process's CPU seconds, and the result the 1-minute load average at start and end.

    python benchmarks/sp_learning.py --budget-s 900 --out benchmarks/results/sp_learning.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from xpm_bench.generators import sp
from xpm_bench.generators.config import apply_overrides, config_to_dict
from xpm_bench.registry import make
from xpm_bench.rl.ledger import Ledger, MeteredEnv
from xpm_bench.rl.trainer import PPOTrainer, make_learner

TARGET = 100.0


def env_only_rate(env_id: str, num_envs: int, steps: int = 200) -> float:
    """Env steps/s of the batched env alone with random actions (the peer for the ratio)."""
    env = make(env_id, num_envs=num_envs)
    env.reset(seed=0)
    gen = torch.Generator().manual_seed(0)
    actions = [torch.randint(env.num_actions, (num_envs, 2), generator=gen) for _ in range(steps)]
    start = time.perf_counter()
    for a in actions:
        env.step(a)
    return steps * num_envs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="OvercookedClassic-CrampedRoom-v0")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--budget-s", type=float, default=900.0, help="wall-clock limit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is fastest on a busy 2-core box)"
    )
    parser.add_argument("--set", action="append", default=[], help="config override field=value")
    parser.add_argument("--window", type=int, default=5, help="updates in the moving average")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/sp_learning.json"))
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    config = apply_overrides(sp.preset(args.preset, args.env), args.set)
    ledger = Ledger()
    env = MeteredEnv(make(args.env, num_envs=config.num_envs), ledger, "sp")
    trainer = PPOTrainer(env, make_learner(env, config, args.seed), config, args.seed + 1)
    trainer.start(seed=args.seed + 2)

    curve, recent = [], []
    reached_at = None
    load_start = os.getloadavg()[0]
    start, cpu_start = time.perf_counter(), time.process_time()
    print(f"{args.env}: {config.num_envs} envs x {config.rollout_steps} steps per update")
    print(
        f"{'update':>6} {'env steps':>11} {'wall s':>7} {'sparse ret':>10} {'avg':>7} {'steps/s':>8}"
    )
    while not trainer.done and time.perf_counter() - start < args.budget_s:
        stats = trainer.update()
        wall = time.perf_counter() - start
        sparse = stats["episodes"]["sparse_return"]
        mean = float(sparse.mean()) if sparse.numel() else None
        if mean is not None:
            recent = (recent + [mean])[-args.window :]
        avg = sum(recent) / len(recent) if recent else float("nan")
        row = {
            "update": trainer.updates_done,
            "env_steps": ledger.env_steps,
            "wall_s": round(wall, 2),
            "cpu_s": round(time.process_time() - cpu_start, 2),
            "episodes": int(sparse.numel()),
            "sparse_return": mean,
            "sparse_return_avg": avg,
            "entropy": stats.get("entropy"),
            "steps_per_s": ledger.env_steps / wall,
        }
        curve.append(row)
        if reached_at is None and len(recent) == args.window and avg >= TARGET:
            reached_at = {
                "env_steps": ledger.env_steps,
                "wall_s": round(wall, 1),
                "cpu_s": row["cpu_s"],
            }
        shown = "-" if mean is None else f"{mean:.1f}"
        print(
            f"{row['update']:>6} {row['env_steps']:>11,} {wall:>7.1f} {shown:>10} "
            f"{avg:>7.1f} {row['steps_per_s']:>8,.0f}",
            flush=True,
        )
    wall = time.perf_counter() - start
    train_rate = ledger.env_steps / wall
    peer_rate = env_only_rate(args.env, config.num_envs)
    result = {
        "env_id": args.env,
        "preset": args.preset,
        "config": config_to_dict(config),
        "seed": args.seed,
        "threads": args.threads,
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
        "budget_s": args.budget_s,
        "load_1min": {"start": load_start, "end": os.getloadavg()[0]},
        "wall_s": wall,
        "env_steps": ledger.env_steps,
        "train_steps_per_s": train_rate,
        "env_only_steps_per_s": peer_rate,
        "train_over_env_only": train_rate / peer_rate,
        "final_sparse_return_avg": sum(recent) / len(recent) if recent else None,
        "target": TARGET,
        "reached_target": reached_at,
        "curve": curve,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(
        f"training loop: {train_rate:,.0f} env steps/s; env alone: {peer_rate:,.0f} steps/s "
        f"(ratio {train_rate / peer_rate:.3f})"
    )
    verdict = (
        f"reached {TARGET:.0f} at {reached_at}" if reached_at else f"did not reach {TARGET:.0f}"
    )
    print(
        f"final mean sparse return {result['final_sparse_return_avg']}; {verdict}; wrote {args.out}"
    )


if __name__ == "__main__":
    main()
