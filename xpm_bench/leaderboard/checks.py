"""Consistency checks shared by ``submit`` and ``verify --quick``.

Each check raises :class:`~xpm_bench.errors.LeaderboardError` with one line naming the
problem and what is accepted. None of them plays an episode.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from xpm_bench.errors import LeaderboardError, XpmBenchError
from xpm_bench.evaluation.holdout import recipe_for
from xpm_bench.evaluation.protocol import get_protocol, protocol_record
from xpm_bench.leaderboard.board import BoardKey, Entry
from xpm_bench.population import Population

# Result fields that every entry of one board must share: what makes its numbers comparable.
BOARD_FIELDS = ("env_id", "env_kwargs", "protocol", "holdout")


def check_population_hash(result: dict[str, Any], digest: str, where: str) -> None:
    """The result must have been computed from the file with ``digest``."""
    reported = result["population"]["hash"]
    if reported != digest:
        raise LeaderboardError(
            f"{where}: population hash mismatch: the result was computed for {reported} but "
            f"the population file is {digest}"
        )


def check_population_fits_result(result: dict[str, Any], pop: Population, where: str) -> None:
    """The population's env, method and members must be those the result reports."""
    reported = result["population"]
    facts = {
        "env_id": (result["env_id"], pop.env_id),
        "method": (reported["method"], pop.method),
        "member_names": (reported["member_names"], [m.name for m in pop.members]),
    }
    for name, (in_result, in_file) in facts.items():
        if in_result != in_file:
            raise LeaderboardError(
                f"{where}: the result's {name} {in_result!r} differs from the population "
                f"file's {in_file!r}"
            )


def check_current_protocol(result: dict[str, Any], where: str) -> None:
    """The result's protocol must be the registered protocol of that name, field for field,
    and its holdout set the current recipe's name and version."""
    proto = result["protocol"]
    name, version = proto["name"], int(proto["version"])
    try:
        current = _recorded_form(result, get_protocol(result["env_id"], name))
    except XpmBenchError as error:
        raise LeaderboardError(f"{where}: {error}") from None
    if version < current["version"]:
        raise LeaderboardError(
            f"{where}: old protocol: the result was scored under {name} v{version}, the "
            f"current {name} protocol for {result['env_id']} is v{current['version']}; "
            f"re-evaluate with `xpm-bench evaluate POP --protocol {name}`"
        )
    if version > current["version"]:
        raise LeaderboardError(
            f"{where}: the result was scored under {name} v{version}, newer than this "
            f"xpm-bench's v{current['version']}; upgrade xpm-bench"
        )
    changed = sorted(k for k in set(proto) | set(current) if proto.get(k) != current.get(k))
    if changed:
        raise LeaderboardError(
            f"{where}: the result's protocol {name} v{version} differs from the registered "
            f"one in {', '.join(changed)}: only registered protocols go on a board"
        )
    holdout = result["holdout"]
    recipe = recipe_for(result["env_id"], proto.get("holdout_tier", "standard"))
    if (holdout["name"], holdout["version"]) != (recipe.name, recipe.version):
        raise LeaderboardError(
            f"{where}: old holdout set: the result used {holdout['name']} "
            f"v{holdout['version']}, the current one is {recipe.name} v{recipe.version}; "
            f"re-evaluate with `xpm-bench evaluate POP --protocol {name}`"
        )


def _recorded_form(result: dict[str, Any], protocol: Any) -> dict[str, Any]:
    """``protocol`` as a result of ``result``'s format records it. Format 1 (before the ego's
    settings were part of the protocol) recorded the fields without ``ego`` and the ego's
    budget as ``ego_env_steps``; the settings were the same, so such a result still matches."""
    if result.get("result_format_version", 1) == 1:
        fields = {k: v for k, v in protocol.to_dict().items() if k != "ego"}
        return {**fields, "ego_env_steps": protocol.ego_env_steps}
    return protocol_record(result["env_id"], protocol)


def check_board_key(result: dict[str, Any], key: BoardKey, where: str) -> None:
    """The result's env id and protocol must be the board's."""
    mine = BoardKey.of_result(result)
    if mine != key:
        raise LeaderboardError(
            f"{where}: the result belongs on board {mine.relpath}, not {key.relpath}"
        )


def check_same_board(result: dict[str, Any], others: Sequence[Entry], where: str) -> None:
    """Every :data:`BOARD_FIELDS` entry of ``result`` must equal the board's other entries'."""
    for other in others:
        for name in BOARD_FIELDS:
            if result.get(name) != other.result.get(name):
                raise LeaderboardError(
                    f"{where}: {name} differs from entry {other.id!r} on the same board "
                    f"({_brief(result.get(name))} vs {_brief(other.result.get(name))}); "
                    f"results on one board must share env, protocol and holdout set"
                )


def check_not_duplicate(entry_id: str, digest: str, others: Sequence[Entry], where: str) -> None:
    """Neither the entry id nor the population may already be on the board."""
    for other in others:
        if other.id == entry_id:
            raise LeaderboardError(
                f"{where}: duplicate: entry {entry_id!r} is already on the board"
            )
    check_unique_population(digest, others, where)


def check_unique_population(digest: str, others: Sequence[Entry], where: str) -> None:
    """The population with ``digest`` may not already be on the board."""
    for other in others:
        if other.data["population"]["sha256"] == digest:
            raise LeaderboardError(
                f"{where}: duplicate: population {digest[:19]}... is already on the board as "
                f"entry {other.id!r}"
            )


def _brief(value: Any) -> str:
    if isinstance(value, dict) and "version" in value:
        return f"{value.get('name', '?')} v{value['version']} {str(value.get('hash', ''))[:15]}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ------------------------------------------------------------ generation commands
def generation_command_for(pop: Population) -> str:
    """A ``xpm-bench generate`` line that reproduces ``pop``'s config: the closest preset of
    its method plus a ``--set`` for every field that differs from it (registered methods
    only)."""
    from xpm_bench.generators import GENERATORS
    from xpm_bench.generators.config import config_to_dict

    if pop.method not in GENERATORS:
        raise LeaderboardError(
            f"submit: method {pop.method!r} is not an xpm-bench generator, so its generation "
            f"command cannot be rebuilt: pass --generation-command with the command you ran"
        )
    module = GENERATORS[pop.method].load()
    best: tuple[int, str, list[str]] | None = None
    for name in module.PRESETS:
        preset = config_to_dict(module.preset(name, pop.env_id))
        sets = _config_differences(preset, pop.config)
        if best is None or len(sets) < best[0]:
            best = (len(sets), name, sets)
    assert best is not None
    _, preset_name, sets = best
    words = [
        "xpm-bench",
        "generate",
        "--method",
        pop.method,
        "--env",
        pop.env_id,
        "--pop-size",
        str(len(pop.members)),
        "--preset",
        preset_name,
        "--seed",
        str(pop.seeds.get("seed", 0)),
    ]
    for item in sets:
        words += ["--set", item]
    return shlex.join([*words, "-o", "population.pt"])


def _config_differences(
    base: dict[str, Any], target: dict[str, Any], prefix: str = ""
) -> list[str]:
    import json

    out = []
    for key in sorted(set(base) | set(target)):
        a, b = base.get(key), target.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _config_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}={json.dumps(b)}")
    return out


def check_generation_command(command: str, pop: Population, where: str) -> None:
    """The recorded ``xpm-bench generate`` line must produce ``pop``'s method, env, size, seed
    and config (checked by parsing it with the CLI's own parser; nothing is trained).

    Populations of methods this xpm-bench does not know are not checked.
    """
    from xpm_bench.generators import GENERATORS
    from xpm_bench.generators.config import config_to_dict
    from xpm_bench.generators.run import build_config

    if pop.method not in GENERATORS:
        return
    params = parse_generate_command(command, where)
    facts = {
        "method": (params["method"], pop.method),
        "env": (params["env"], pop.env_id),
        "pop-size": (params["pop_size"], len(pop.members)),
        "seed": (params["seed"], pop.seeds.get("seed")),
    }
    for name, (in_command, in_file) in facts.items():
        if in_command != in_file:
            raise LeaderboardError(
                f"{where}: the generation command's --{name} is {in_command!r} but the "
                f"population has {in_file!r}"
            )
    try:
        config = config_to_dict(
            build_config(params["method"], params["env"], params["preset"], params["set_"] or ())
        )
    except XpmBenchError as error:
        raise LeaderboardError(f"{where}: generation command: {error}") from None
    differences = _config_differences(config, pop.config)
    if differences:
        fields = ", ".join(item.split("=", 1)[0] for item in differences)
        raise LeaderboardError(
            f"{where}: the generation command does not give the population's config "
            f"(differs in {fields})"
        )


def parse_generate_command(command: str, where: str) -> dict[str, Any]:
    """The parameters of an ``xpm-bench generate ...`` line, parsed by the CLI itself."""
    import typer

    from xpm_bench.cli.main import app

    words = shlex.split(command)
    if words[:2] != ["xpm-bench", "generate"]:
        raise LeaderboardError(
            f"{where}: the generation command must start with 'xpm-bench generate', "
            f"got {command[:40]!r}"
        )
    generate = typer.main.get_command(app).commands["generate"]  # type: ignore[attr-defined]
    try:
        context = generate.make_context("generate", words[2:], resilient_parsing=False)
    except Exception as error:
        # click's usage errors (typer >= 0.23 vendors click, so match on the method both have)
        if not hasattr(error, "format_message"):
            raise
        raise LeaderboardError(f"{where}: generation command: {error.format_message()}") from None
    return dict(context.params)
