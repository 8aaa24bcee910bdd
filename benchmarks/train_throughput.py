"""Training-loop throughput at JaxMARL IPPO's batch shape, single learner and M = 8 learners.

Measures env steps/s of the whole PPO loop (rollout + GAE + update) on Overcooked Cramped Room
(classic rule) with the shape of JaxMARL's ``baselines/IPPO/ippo_ff_overcooked.py``: 16 envs x
128 steps per update, 4 epochs x 4 minibatches, 2x64 tanh MLP actor, lr 2.5e-4. Ours keeps a
centralised critic (it sees both seats). Also measures, in the same run, an M = 8
multi-learner loop (8 learners, every ordered pair incl. self-play in its own copy, each
learner's objective ``sp`` + one ``xp`` stream per partner and seat: LIPO's shape) and reports
its rate against the single learner's.

JaxMARL's numbers (issue 9, measured on this 2-core machine, compile excluded) are quoted,
not rerun: 47.7k steps/s on one core, 62.8k on two. Every rate here is printed with the
machine's load (``os.getloadavg``) and as steps per CPU-second (``time.process_time``), since
the machine is shared.

    python benchmarks/train_throughput.py --out benchmarks/results/train_throughput.json
    python benchmarks/train_throughput.py --profile /tmp/profile.txt   # pyinstrument, 1 thread
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch

from xpm_bench.envs.overcooked.events import HIPT_SHAPING
from xpm_bench.io import atomic_write, write_json
from xpm_bench.registry import make
from xpm_bench.rl.ledger import Ledger, MeteredEnv
from xpm_bench.rl.ppo import Learner, PPOConfig, update_learners
from xpm_bench.rl.rollout import collect_rollout, initial_state
from xpm_bench.rl.streams import Stream
from xpm_bench.rl.trainer import PPOTrainer, TrainConfig, make_learner

ENV_ID = "OvercookedClassic-CrampedRoom-v0"
JAXMARL = {1: 47_700.0, 2: 62_800.0}  # IPPO-FF steps/s on this machine (issue 9)
PPO = PPOConfig(lr=2.5e-4, epochs=4, minibatches=4)
CONFIG = TrainConfig(
    env_steps=100_000_000,
    num_envs=16,
    rollout_steps=128,
    arch="mlp",
    hidden=64,
    layers=2,
    reward_set="sparse",
    event_shaping=HIPT_SHAPING,
    shaping_anneal_steps=2_500_000,
    ppo=PPO,
)


def _rate(run_update, steps_per_update: int, updates: int) -> dict[str, float]:
    run_update()  # warm-up: allocations, first calls
    load = os.getloadavg()[0]
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(updates):
        run_update()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    steps = steps_per_update * updates
    return {
        "env_steps": steps,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "steps_per_s": steps / wall,
        "steps_per_cpu_s": steps / cpu,
        "load_1min_before": load,
        "load_1min_after": os.getloadavg()[0],
    }


def single_learner(updates: int, seed: int = 0) -> dict[str, float]:
    env = MeteredEnv(make(ENV_ID, num_envs=CONFIG.num_envs), Ledger())
    trainer = PPOTrainer(env, make_learner(env, CONFIG, seed), CONFIG, seed + 1)
    trainer.start(seed + 2)
    return _rate(trainer.update, CONFIG.num_envs * CONFIG.rollout_steps, updates)


def multi_learner(m: int, updates: int, seed: int = 0) -> dict[str, float]:
    """M learners, every ordered pair (i, j) in one copy: LIPO's objective shape."""
    env = MeteredEnv(make(ENV_ID, num_envs=m * m), Ledger())
    env.set_reward_weights(env.reward_weight_tensor("sparse"))
    names = [str(i) for i in range(m)]
    kwargs = {"obs_shape": list(env.observation_shape), "num_outputs": env.num_actions}
    kwargs |= {"hidden": 64, "layers": 2}

    def objective(i: int) -> list[Stream]:
        xp = [Stream(f"xp:{j}:{s}", -0.25) for j in names if j != str(i) for s in (0, 1)]
        return [Stream("sp"), *xp]

    learners = [Learner("mlp", kwargs, PPO, seed + i, streams=objective(i)) for i in range(m)]
    actors = [learner.policy() for learner in learners]
    seats = torch.tensor([[i, j] for i in range(m) for j in range(m)])
    obs, _ = env.reset(seed=seed)
    state = initial_state(obs, seats, actors)
    gen = torch.Generator().manual_seed(seed)

    def run_update() -> None:
        rollout = collect_rollout(env, state, actors, CONFIG.rollout_steps, gen, names=names)
        update_learners(learners, range(m), rollout, gen)

    return _rate(run_update, m * m * CONFIG.rollout_steps, updates)


def profile(path: Path, updates: int) -> None:
    from pyinstrument import Profiler

    torch.set_num_threads(1)
    env = MeteredEnv(make(ENV_ID, num_envs=CONFIG.num_envs), Ledger())
    trainer = PPOTrainer(env, make_learner(env, CONFIG, 0), CONFIG, 1)
    trainer.start(2)
    trainer.update()
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(updates):
        trainer.update()
    profiler.stop()
    text = profiler.output_text(unicode=False, show_all=False)
    atomic_write(path, lambda tmp: tmp.write_text(text))
    print(profiler.output_text(unicode=False)[:6000])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=20, help="timed updates per measurement")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--m", type=int, default=8, help="learners in the multi-learner loop")
    parser.add_argument("--profile", type=Path, help="write a pyinstrument profile here and stop")
    parser.add_argument("--label", default="", help="what this run measures (before/after...)")
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/train_throughput.json")
    )
    args = parser.parse_args()
    if args.profile:
        profile(args.profile, args.updates)
        return
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        single = single_learner(args.updates)
        multi = multi_learner(args.m, max(2, args.updates // 4))
        row = {
            "threads": threads,
            "single": single,
            f"multi_m{args.m}": multi,
            "single_over_jaxmarl": single["steps_per_s"] / JAXMARL[threads]
            if threads in JAXMARL
            else None,
            "multi_over_single": multi["steps_per_s"] / single["steps_per_s"],
        }
        rows.append(row)
        print(
            f"threads {threads}: single {single['steps_per_s']:,.0f} steps/s "
            f"({single['steps_per_cpu_s']:,.0f}/cpu-s, load {single['load_1min_before']:.1f}); "
            f"JaxMARL {JAXMARL.get(threads, float('nan')):,.0f} -> ratio "
            f"{row['single_over_jaxmarl'] or float('nan'):.2f}; M={args.m} multi "
            f"{multi['steps_per_s']:,.0f} steps/s, {row['multi_over_single']:.2f}x single",
            flush=True,
        )
    result = {
        "benchmark": "train_throughput",
        "label": args.label,
        "env_id": ENV_ID,
        "shape": "16 envs x 128 steps, 4 epochs x 4 minibatches, 2x64 tanh MLP (JaxMARL IPPO-FF)",
        "jaxmarl_quoted_steps_per_s": JAXMARL,
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
        "note": "shared 2-core machine (~4 helpers): compare ratios within this run only",
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)


if __name__ == "__main__":
    main()
