"""Every ``register(...)`` call lives here, so the registry is complete after one import."""

from xpm_bench.registry import register

register(
    "MPPMR-v0",
    entry_point="xpm_bench.envs.mppmr:MPPMREnv",
    kwargs={"n_landmarks": 4, "n_lanes": 2, "lane_length": 2, "horizon": 16},
    description="Multi-Path Point-Mass Rendezvous: 4 landmarks x 2 lanes, horizon 16",
)

# The five classic Overcooked layouts (HiPT's and most ZSC work's) by id variant -> the shipped
# layout name. The one table of them: the named ids below, their entry points
# (``envs/overcooked/ids.py``), the holdout recipes and the human proxies all read it.
OVERCOOKED_LAYOUTS = {
    "CrampedRoom": "cramped_room",
    "AsymmetricAdvantages": "asymmetric_advantages",
    "CoordinationRing": "coordination_ring",
    "ForcedCoordination": "forced_coordination",
    "CounterCircuit": "counter_circuit_o_1order",
}
# Id prefix of each cooking rule -> description.
OVERCOOKED_RULES = {
    "Overcooked": "overcooked-ai 1.1.0 rule (cook on interact)",
    "OvercookedClassic": "2019 rule (full pots cook by themselves)",
}

# One id per (rule, classic layout), plus generic ids taking layout=<name>. Both rules are one
# family: they share protocols, generator presets and holdout recipes.
for _family, _rule in OVERCOOKED_RULES.items():
    for _variant, _layout in OVERCOOKED_LAYOUTS.items():
        register(
            f"{_family}-{_variant}-v0",
            entry_point=f"xpm_bench.envs.overcooked.ids:{_family}_{_variant}",
            description=f"Overcooked {_layout}, {_rule}, horizon 400",
            family="Overcooked",
        )
    _cls = "OvercookedClassicEnv" if _family == "OvercookedClassic" else "OvercookedEnv"
    register(
        f"{_family}-v0",
        entry_point=f"xpm_bench.envs.overcooked.env:{_cls}",
        kwargs={"layout": "cramped_room"},
        description=f"Overcooked on layout=<any shipped layout> (default cramped_room), {_rule}",
        family="Overcooked",
    )

register(
    "CMG-v0",
    entry_point="xpm_bench.envs.cmg:CMGEnv",
    kwargs={"n_conventions": 8, "payoffs": None},
    description="Cooperative matrix game (LIPO's): 8 conventions, payoffs all 1, one step",
)
# One convention pays clearly more: independent self-play mostly finds it, diverse
# populations must spread over the others (the test bed of the XPM generators' tests).
register(
    "CMG-Skewed-v0",
    entry_point="xpm_bench.envs.cmg:CMGEnv",
    kwargs={"n_conventions": 8, "payoffs": (1.0,) + (0.5,) * 7},
    description="Cooperative matrix game: 8 conventions, convention 0 pays 1, the others 0.5",
    family="CMG",
)
