"""Every ``register(...)`` call lives here, so the registry is complete after one import."""

from xpm_bench.registry import register

register(
    "MPPMR-v0",
    entry_point="xpm_bench.envs.mppmr:MPPMREnv",
    kwargs={"n_landmarks": 4, "n_lanes": 2, "lane_length": 2, "horizon": 16},
    description="Multi-Path Point-Mass Rendezvous: 4 landmarks x 2 lanes, horizon 16",
)

# Overcooked: one id per (rule, classic layout), plus generic ids taking layout=<name>.
_OVERCOOKED_RULES = {
    "Overcooked": "overcooked-ai 1.1.0 rule (cook on interact)",
    "OvercookedClassic": "2019 rule (full pots cook by themselves)",
}
_OVERCOOKED_LAYOUTS = {
    "CrampedRoom": "cramped_room",
    "AsymmetricAdvantages": "asymmetric_advantages",
    "CoordinationRing": "coordination_ring",
    "ForcedCoordination": "forced_coordination",
    "CounterCircuit": "counter_circuit_o_1order",
}
for _family, _rule in _OVERCOOKED_RULES.items():
    for _variant, _layout in _OVERCOOKED_LAYOUTS.items():
        register(
            f"{_family}-{_variant}-v0",
            entry_point=f"xpm_bench.envs.overcooked.ids:{_family}_{_variant}",
            description=f"Overcooked {_layout}, {_rule}, horizon 400",
        )
    _cls = "OvercookedClassicEnv" if _family == "OvercookedClassic" else "OvercookedEnv"
    register(
        f"{_family}-v0",
        entry_point=f"xpm_bench.envs.overcooked.env:{_cls}",
        kwargs={"layout": "cramped_room"},
        description=f"Overcooked on layout=<any shipped layout> (default cramped_room), {_rule}",
    )
