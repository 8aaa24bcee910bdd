"""``xpm-bench envs``: list, show and roll out registered environments."""

from __future__ import annotations

import time
from typing import Annotated

import torch
import typer
from rich.table import Table

from xpm_bench.cli.common import console
from xpm_bench.registry import env_family, make, registered_ids, spec

app = typer.Typer(
    help="List, inspect and roll out the registered environments.", no_args_is_help=True
)


@app.command("list")
def list_envs() -> None:
    """A table of every registered environment id."""
    table = Table(title="xpm-bench environments")
    table.add_column("id", no_wrap=True)
    for column in ("players", "observation", "actions", "horizon", "events"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("description", overflow="fold")
    for env_id in registered_ids():
        env = make(env_id)
        table.add_row(
            env_id,
            str(env.num_players),
            "x".join(map(str, env.observation_shape)),
            str(env.num_actions),
            str(env.horizon),
            str(env.num_events),
            spec(env_id).description,
        )
    console.print(table)


@app.command("show")
def show(env_id: Annotated[str, typer.Argument(help="A registered id, e.g. MPPMR-v0")]) -> None:
    """The spec, event names and an ASCII render of the start state."""
    env_spec = spec(env_id)
    env = make(env_id)
    env.reset(seed=0)
    console.print(f"[bold]{env_id}[/bold]  {env_spec.description}")
    console.print(f"entry point: {env_spec.entry_point}")
    console.print(
        f"keyword arguments: {env.env_kwargs}  (accepted: {', '.join(env_spec.accepted_kwargs())})"
    )
    console.print(f"observation: {tuple(env.observation_shape)} {env.observation_dtype}")
    console.print(f"actions ({env.num_actions}): {', '.join(env.action_names)}")
    console.print(f"horizon: {env.horizon}   reward weight sets: {', '.join(env.reward_sets)}")
    console.print(f"events ({env.num_events}): {', '.join(env.event_names)}")
    console.print(env.render("ansi"), markup=False, highlight=False)


@app.command("rollout")
def rollout(
    env_id: Annotated[str, typer.Argument(help="A registered id")],
    num_envs: Annotated[int, typer.Option(help="Copies stepped at once")] = 1024,
    steps: Annotated[int, typer.Option(help="Batched steps to take")] = 200,
    seed: Annotated[int, typer.Option(help="Seed for env and random agents")] = 0,
) -> None:
    """Roll out scripted agents (MPPMR conventions, cross-play table) or random agents."""
    env = make(env_id, num_envs=num_envs)
    if env_family(env_id) == "MPPMR":
        _convention_table(env_id)
    _random_rollout(env, steps, seed)


def _random_rollout(env, steps: int, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    env.reset(seed=seed)
    returns, episodes = 0.0, 0
    start = time.perf_counter()
    for _ in range(steps):
        actions = torch.randint(env.num_actions, (env.num_envs, 2), generator=gen)
        _, _, term, trunc, info = env.step(actions)
        done = term | trunc
        if "episode_return" in info:
            returns += float(info["episode_return"][done, 0].sum())
            episodes += int(done.sum())
    elapsed = time.perf_counter() - start
    mean = returns / episodes if episodes else float("nan")
    console.print(
        f"random agents: {steps * env.num_envs:,} steps in {elapsed:.2f}s "
        f"({steps * env.num_envs / elapsed:,.0f} steps/s), {episodes} episodes, mean return {mean:.3f}"
    )


def _convention_table(env_id: str) -> None:
    from xpm_bench.agents.scripted import mppmr_convention_agents
    from xpm_bench.rollout import cross_play_returns

    env = make(env_id)
    agents = mppmr_convention_agents(env)
    names = [f"{k}/{p}" for k, p in agents]
    matrix = cross_play_returns(env_id, list(agents.values()))
    table = Table(title="scripted conventions (landmark/lane): mean return, row in seat 0")
    table.add_column("")
    for name in names:
        table.add_column(name)
    for name, row in zip(names, matrix.tolist()):
        table.add_row(name, *(f"{v:.0f}" for v in row))
    console.print(table)
