"""Partner builders: how each kind of holdout partner is rebuilt from its spec.

A builder is ``(PartnerSpec, env_id) -> Policy`` registered under the name a spec's
``builder`` field holds. New partner kinds register one with :func:`register_partner_builder`.
"""

from __future__ import annotations

from collections.abc import Callable

from xpm_bench.agents.base import Policy
from xpm_bench.evaluation.holdout.sets import HoldoutError, PartnerSpec

PartnerBuilder = Callable[[PartnerSpec, str], Policy]
PARTNER_BUILDERS: dict[str, PartnerBuilder] = {}


def register_partner_builder(name: str, builder: PartnerBuilder) -> None:
    """Register how to rebuild a partner policy from its spec (and the env id)."""
    if name in PARTNER_BUILDERS:
        raise ValueError(f"partner builder {name!r} is already registered")
    PARTNER_BUILDERS[name] = builder


def build_partner(spec: PartnerSpec, env_id: str) -> Policy:
    """The policy ``spec`` describes, for ``env_id``."""
    if spec.builder not in PARTNER_BUILDERS:
        raise HoldoutError(
            f"partner {spec.name!r} needs builder {spec.builder!r}; registered: "
            f"{', '.join(sorted(PARTNER_BUILDERS))}"
        )
    return PARTNER_BUILDERS[spec.builder](spec, env_id)


def _build_mppmr_convention(spec: PartnerSpec, env_id: str) -> Policy:
    from xpm_bench.agents.base import CellTablePolicy
    from xpm_bench.envs.mppmr import convention_action_table
    from xpm_bench.registry import make

    layout = make(env_id).layout
    table = convention_action_table(layout, spec.params["landmark"], spec.params["lane"])
    return CellTablePolicy(table, layout.num_cells, name=spec.name)


def _build_cmg_convention(spec: PartnerSpec, env_id: str) -> Policy:
    from xpm_bench.agents.base import ConstantPolicy

    return ConstantPolicy(int(spec.params["convention"]))


def _build_overcooked_cook(spec: PartnerSpec, env_id: str) -> Policy:
    from xpm_bench.agents.overcooked_scripted import OvercookedCook

    return OvercookedCook(name=spec.name, **spec.params)


def _build_bc_human_proxy(spec: PartnerSpec, env_id: str) -> Policy:
    from xpm_bench.evaluation.human_proxy import BCProxyPolicy, rebuild_bc

    net = rebuild_bc(spec.params["net_kwargs"], spec.weights)
    return BCProxyPolicy(net, seed=int(spec.params.get("seed", 0)), name=spec.name)


def _build_net_policy(spec: PartnerSpec, env_id: str) -> Policy:
    from xpm_bench.population import Member

    member = Member(spec.name, spec.params["arch"], spec.params["arch_kwargs"], spec.weights)
    return member.policy(seed=int(spec.params.get("seed", 0)))


register_partner_builder("mppmr-convention", _build_mppmr_convention)
register_partner_builder("cmg-convention", _build_cmg_convention)
register_partner_builder("overcooked-cook", _build_overcooked_cook)
register_partner_builder("bc-human-proxy", _build_bc_human_proxy)
register_partner_builder("net-policy", _build_net_policy)
