"""Developer timing of the batched Overcooked engine (steps/s, observations included).

Usage: ``python benchmarks/dev_overcooked_speed.py [--threads N] [--steps S]``. Prints env
steps per second (copies x steps / wall time) for CrampedRoom and CounterCircuit at
B = 1024 and 8192, random joint actions generated up front. The official comparison against
the reference and JaxMARL lives in the benchmark suite; this is a quick check while developing.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import xpm_bench


def steps_per_second(env_id: str, num_envs: int, steps: int, device: str) -> float:
    env = xpm_bench.make(env_id, num_envs=num_envs, device=device)
    env.reset(seed=0)
    gen = torch.Generator().manual_seed(0)
    actions = torch.randint(6, (steps, num_envs, 2), generator=gen).to(device)
    for a in actions[:20]:  # warm-up
        env.step(a)
    if device != "cpu":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for a in actions:
        env.step(a)
    if device != "cpu":
        torch.cuda.synchronize()
    return num_envs * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 8192])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    results = {}
    for env_id in ("Overcooked-CrampedRoom-v0", "Overcooked-CounterCircuit-v0"):
        for b in args.sizes:
            sps = steps_per_second(env_id, b, args.steps, args.device)
            results[f"{env_id}@{b}"] = sps
            print(f"{env_id:32s} B={b:5d} {sps / 1e6:6.2f} M steps/s", flush=True)
    print(json.dumps({"threads": torch.get_num_threads(), "device": args.device, **results}))


if __name__ == "__main__":
    main()
