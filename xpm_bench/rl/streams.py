"""Named streams: a learner's objective as data.

A learner's loss is a weighted sum of PPO terms, one per :class:`Stream`. A stream names
which of the learner's samples it takes:

- ``sp``: self-play: the learner holds both seats (both seats' samples);
- ``xp:<partner>:<seat>``: cross-play: the learner in seat ``<seat>`` (0 or 1), ``<partner>``
  in the other; ``*`` stands for any partner or either seat (``xp:*:*`` is every cross-play
  sample, as a best response to a population uses it);
- ``mp:<partner>``: mixed play: the learner's samples from the post-switch steps of episodes
  whose pre-switch steps mixed in ``<partner>`` (``*``: any); pre-switch steps train nothing.

Partners are named by the actor names of the rollout (:attr:`Rollout.names`). A stream's
``weight`` multiplies its policy-gradient term; a negative weight minimises that return
(e.g. LIPO's and CoMeDi's cross-play terms). Each stream has its own value head and its own
advantage normalisation (:mod:`xpm_bench.rl.ppo`). A sample belongs to at most one stream of
a learner: the first in the objective that takes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

Tensor = torch.Tensor
STREAM_KINDS = ("sp", "xp", "mp")
ANY = "*"


@dataclass(frozen=True)
class Stream:
    """One PPO term of a learner's objective: a stream name (see the module docstring) and
    the weight of its policy-gradient term (its sign says maximise or minimise)."""

    name: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        parse_stream(self.name)

    @property
    def kind(self) -> str:
        return parse_stream(self.name)[0]

    @property
    def partner(self) -> str | None:
        return parse_stream(self.name)[1]

    @property
    def seat(self) -> int | None:
        return parse_stream(self.name)[2]


def parse_stream(name: str) -> tuple[str, str | None, int | None]:
    """``(kind, partner, seat)`` of a stream name; partner/seat ``None`` where not given or
    ``*``. A malformed name raises ``ValueError`` naming it and the accepted forms."""
    parts = name.split(":")
    accepted = "accepted: sp, xp:<partner>:<seat 0|1|*>, mp:<partner>"
    kind = parts[0]
    if kind == "sp" and len(parts) == 1:
        return "sp", None, None
    if kind == "xp" and len(parts) == 3 and parts[1] and parts[2] in ("0", "1", ANY):
        partner = None if parts[1] == ANY else parts[1]
        return "xp", partner, None if parts[2] == ANY else int(parts[2])
    if kind == "mp" and len(parts) == 2 and parts[1]:
        return "mp", None if parts[1] == ANY else parts[1], None
    raise ValueError(f"malformed stream name {name!r}; {accepted}")


def stream_ids(
    controller: Tensor,
    pre_switch: Tensor,
    mix_partner: Tensor,
    learner: int,
    streams: Sequence[Stream],
    names: Sequence[str],
) -> Tensor:
    """``[T, B, 2]`` index into ``streams`` of each sample of actor ``learner`` (``-1``: the
    sample is not the learner's or no stream of its objective takes it).

    ``controller`` ``[T, B, 2]``, ``pre_switch`` and ``mix_partner`` ``[T, B]`` are the
    rollout's (:class:`~xpm_bench.rl.rollout.Rollout`).
    """
    index = {name: k for k, name in enumerate(names)}
    own = controller == learner
    other = controller.flip(-1)
    mixed = (mix_partner >= 0).unsqueeze(-1)
    post = (~pre_switch).unsqueeze(-1)
    seat = torch.arange(2, device=controller.device).view(1, 1, 2)
    ids = torch.full_like(controller, -1)
    for j, stream in enumerate(streams):
        kind, partner, want_seat = parse_stream(stream.name)
        if partner is not None and partner not in index:
            raise ValueError(
                f"stream {stream.name!r} names partner {partner!r}, which is not an actor of "
                f"the rollout; actors: {', '.join(names)}"
            )
        p = index.get(partner, -1)
        if kind == "sp":
            take = own & (other == learner) & ~mixed
        elif kind == "xp":
            take = own & ~mixed & (other != learner if p < 0 else other == p)
            if want_seat is not None:
                take = take & (seat == want_seat)
        else:
            take = own & mixed & post
            if p >= 0:
                take = take & (mix_partner == p).unsqueeze(-1)
        ids = torch.where(take & (ids < 0), j, ids)
    return ids
