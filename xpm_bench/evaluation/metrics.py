"""Population metrics: pure functions over cross-play arrays.

Every function takes plain arrays (numpy arrays or torch tensors; tensors are copied to numpy)
and returns plain Python numbers or numpy arrays. Nothing here plays an episode, so each metric
can be checked on hand-built arrays with a closed-form answer.

Array conventions (the shapes :mod:`xpm_bench.evaluation.crossplay` produces). ``M`` members,
``N`` episodes per seat assignment, ``E`` events; the episode axis is always axis 2:

- ``returns[M, M, N]``: team return of episode ``n`` with member ``a`` in seat 0 and member
  ``b`` in seat 1 at ``[a, b, n]``. The diagonal is self-play (SP); the off-diagonal entries
  are cross-play (XP). Every unordered pair ``{i, j}`` is played in both seat assignments,
  ``[i, j]`` and ``[j, i]``, so nothing needs a separate seat axis.
- ``events[M, M, N, 2, E]``: event counts per episode and per seat (seat 0, seat 1).
- ``quit[M, M, N]`` (bool): the episode ended with a quit.
- ``idle_returns[M, 2, N]``: member ``m`` in seat ``s`` with an idle partner (one that only
  stays) in the other seat.

"Team return" is the mean of the two seats' returns, which equals either seat's return when the
reward is shared (MPPMR, Overcooked).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xpm_bench.stats import ConfidenceInterval, percentile_bootstrap

EPISODE_AXIS = 2


def as_numpy(x: Any) -> np.ndarray:
    """A numpy view/copy of a numpy array, torch tensor or nested list (float64 if float)."""
    if hasattr(x, "detach"):  # torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype.kind == "f":
        arr = arr.astype(np.float64, copy=False)
    return arr


def _check_square(returns: np.ndarray, name: str = "returns") -> int:
    if returns.ndim < 2 or returns.shape[0] != returns.shape[1]:
        raise ValueError(f"{name} must have shape [M, M, ...], got {tuple(returns.shape)}")
    return returns.shape[0]


def _off_diagonal(m: int) -> np.ndarray:
    return ~np.eye(m, dtype=bool)


# --------------------------------------------------------------------- SP / XP
def pair_means(returns: Any) -> np.ndarray:
    """``[M, M]`` mean return of each seat assignment (row member in seat 0), over episodes."""
    r = as_numpy(returns)
    _check_square(r)
    return r.reshape(r.shape[0], r.shape[1], -1).mean(axis=2)


def sp_mean(returns: Any) -> float:
    """Mean self-play return: the diagonal of ``returns[M, M, N]``, over members and episodes."""
    r = as_numpy(returns)
    m = _check_square(r)
    return float(r[np.arange(m), np.arange(m)].mean())


def xp_mean(returns: Any) -> float:
    """Mean cross-play return: every off-diagonal entry (both seat assignments of every pair of
    distinct members), over episodes. ``nan`` for a single member."""
    r = as_numpy(returns)
    m = _check_square(r)
    if m < 2:
        return float("nan")
    return float(r[_off_diagonal(m)].mean())


def sp_xp_gap(returns: Any) -> float:
    """``sp_mean - xp_mean``: how much worse members do with others than with themselves."""
    return sp_mean(returns) - xp_mean(returns)


def normalised_gap(returns: Any) -> float:
    """``1 - xp_mean / sp_mean``: 0 when XP matches SP, 1 when XP is zero. ``nan`` unless
    ``sp_mean > 0`` (the ratio means nothing for a population that cannot self-play)."""
    sp = sp_mean(returns)
    if not sp > 0:
        return float("nan")
    return 1.0 - xp_mean(returns) / sp


# --------------------------------------------------------- compatibility classes
@dataclass(frozen=True)
class CompatibilityClasses:
    """Result of :func:`compatibility_classes`.

    Attributes:
        count: number of classes (connected components).
        labels: ``[M]`` class index of each member; classes are numbered in order of their
            lowest member.
        linked: ``[M, M]`` bool adjacency that defined them (symmetric, diagonal False).
    """

    count: int
    labels: np.ndarray
    linked: np.ndarray


def compatibility_links(matrix: Any, tau: float) -> np.ndarray:
    """``[M, M]`` bool: which pairs of distinct members are compatible.

    ``matrix[M, M]`` holds mean returns with the row member in seat 0 (diagonal = SP); a
    ``returns[M, M, N]`` array is averaged over episodes first. A pair is judged on both seat
    assignments together, so asymmetric pairs are linked or not as one: with
    ``xp_ij = (matrix[i, j] + matrix[j, i]) / 2`` and ``sp_ij = (matrix[i, i] + matrix[j, j]) / 2``,
    members ``i != j`` are linked when ``sp_ij > 0`` and ``xp_ij >= tau * sp_ij``. Requiring
    ``sp_ij > 0`` keeps members that score nothing even in self-play from joining every class.
    """
    mat = as_numpy(matrix)
    if mat.ndim == 3:
        mat = pair_means(mat)
    m = _check_square(mat, "matrix")
    xp = (mat + mat.T) / 2
    sp_diag = np.diag(mat)
    sp = (sp_diag[:, None] + sp_diag[None, :]) / 2
    linked = (sp > 0) & (xp >= tau * sp)
    linked &= _off_diagonal(m)
    return linked


def compatibility_classes(matrix: Any, tau: float = 0.5) -> CompatibilityClasses:
    """Connected components of the compatibility graph (see :func:`compatibility_links`).

    A fully incompatible population of ``M`` members has ``M`` classes; a population where
    every pair plays as well together as alone has 1.
    """
    linked = compatibility_links(matrix, tau)
    m = linked.shape[0]
    labels = -np.ones(m, dtype=np.int64)
    count = 0
    for start in range(m):
        if labels[start] >= 0:
            continue
        stack = [start]
        labels[start] = count
        while stack:  # depth-first flood fill of one component
            node = stack.pop()
            for other in np.flatnonzero(linked[node] & (labels < 0)):
                labels[other] = count
                stack.append(int(other))
        count += 1
    return CompatibilityClasses(count, labels, linked)


# -------------------------------------------------------------------- bad faith
def bad_faith_pairs(returns: Any, idle_returns: Any, margin: float = 0.0) -> np.ndarray:
    """``[M, M]`` bool: seat assignments of distinct members that do worse together than one of
    them does alone.

    With member ``a`` in seat 0 and ``b`` in seat 1, the pair is in bad faith when its mean
    return is below ``max(idle[a, seat 0], idle[b, seat 1]) - margin``: a partner that merely
    did nothing would have let the other member score more, so someone is actively getting in
    the way. The diagonal (SP) is always False.
    """
    r = pair_means(returns)
    idle = as_numpy(idle_returns)
    m = r.shape[0]
    if idle.shape[:2] != (m, 2):
        raise ValueError(f"idle_returns must have shape [M={m}, 2, N], got {tuple(idle.shape)}")
    idle_mean = idle.reshape(m, 2, -1).mean(axis=2)
    alone = np.maximum(idle_mean[:, 0][:, None], idle_mean[:, 1][None, :])
    return (r < alone - margin) & _off_diagonal(m)


def bad_faith_rate(returns: Any, idle_returns: Any, margin: float = 0.0) -> float:
    """Fraction of XP seat assignments (ordered pairs ``a != b``) in bad faith; see
    :func:`bad_faith_pairs`. ``nan`` for a single member."""
    pairs = bad_faith_pairs(returns, idle_returns, margin)
    m = pairs.shape[0]
    if m < 2:
        return float("nan")
    return float(pairs[_off_diagonal(m)].mean())


# ---------------------------------------------------------- event-profile diversity
def event_profiles(events: Any, event_mask: Sequence[bool] | None = None) -> np.ndarray:
    """``[M, E]`` each member's self-play event profile: event counts of both seats, summed,
    averaged over its SP episodes (the diagonal of ``events[M, M, N, 2, E]``).

    ``event_mask`` (length E) keeps only some events, e.g. to leave out bookkeeping events.
    """
    ev = as_numpy(events).astype(np.float64)
    m = _check_square(ev, "events")
    sp = ev[np.arange(m), np.arange(m)]  # [M, N, 2, E]
    profile = sp.sum(axis=2).mean(axis=1)
    if event_mask is not None:
        profile = profile[:, np.asarray(event_mask, dtype=bool)]
    return profile


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """Total-variation distance between two count vectors after normalising each to sum 1.

    Two all-zero vectors are at distance 0; an all-zero vector and a non-zero one at 1.
    """
    sp, sq = p.sum(), q.sum()
    if sp <= 0 and sq <= 0:
        return 0.0
    if sp <= 0 or sq <= 0:
        return 1.0
    return float(0.5 * np.abs(p / sp - q / sq).sum())


def event_profile_diversity(events: Any, event_mask: Sequence[bool] | None = None) -> float:
    """Mean pairwise total-variation distance between the members' normalised SP event
    profiles (:func:`event_profiles`), over unordered pairs of distinct members.

    Normalising makes the profile say *what* a member does rather than how much, and TV keeps
    the value in ``[0, 1]``: 0 when all members produce the same mix of events, 1 when no two
    members share any event. ``nan`` for a single member.
    """
    profiles = event_profiles(events, event_mask)
    m = profiles.shape[0]
    if m < 2:
        return float("nan")
    distances = [
        total_variation(profiles[i], profiles[j]) for i in range(m) for j in range(i + 1, m)
    ]
    return float(np.mean(distances))


# ------------------------------------------------------------- MPPMR ground truth
def mppmr_event_indices(event_names: Sequence[str]) -> dict[str, Any]:
    """Indices of the events the MPPMR metrics need: ``landmarks`` (list, by landmark
    number), ``rendezvous`` and ``quit``."""
    names = list(event_names)
    landmarks = sorted(
        (int(n.split("_", 1)[1]), i) for i, n in enumerate(names) if n.startswith("landmark_")
    )
    missing = [n for n in ("rendezvous", "quit") if n not in names]
    if missing or not landmarks:
        raise ValueError(f"not MPPMR event names (missing {missing or 'landmark_k'}): {names}")
    return {
        "landmarks": [i for _, i in landmarks],
        "rendezvous": names.index("rendezvous"),
        "quit": names.index("quit"),
    }


def rendezvous_landmarks(
    events: Any, landmark_indices: Sequence[int], rendezvous_index: int
) -> np.ndarray:
    """``[...]`` int: the landmark of each episode's rendezvous, ``-1`` where there was none.

    ``events[..., 2, E]``. The rendezvous landmark is one that both seats reached in that
    episode; if the counts allow several, the one with the most joint visits (the smaller count
    of the two seats), ties to the lowest landmark number.
    """
    ev = as_numpy(events)
    met = ev[..., 0, rendezvous_index] > 0
    visits = ev[..., list(landmark_indices)]  # [..., 2, K]
    joint = visits.min(axis=-2)  # [..., K]
    landmark = joint.argmax(axis=-1)
    has_joint = joint.max(axis=-1) > 0
    return np.where(met & has_joint, landmark, -1)


def landmarks_used(events: Any, landmark_indices: Sequence[int], rendezvous_index: int) -> int:
    """MPPMR ground truth: how many distinct landmarks host at least one SP rendezvous.

    ``events[M, M, N, 2, E]``; only the diagonal (self-play) counts.
    """
    ev = as_numpy(events)
    m = _check_square(ev, "events")
    sp = ev[np.arange(m), np.arange(m)]
    landmarks = rendezvous_landmarks(sp, landmark_indices, rendezvous_index)
    return int(np.unique(landmarks[landmarks >= 0]).size)


def quit_flags(events: Any, quit_index: int) -> np.ndarray:
    """``[...]`` bool: episodes in which some seat quit (``events[..., 2, E]``). A quit ends
    the episode at once, so this is also "the episode ended with a quit"."""
    return as_numpy(events)[..., quit_index].max(axis=-1) > 0


def self_sabotage_rate(quit: Any) -> float:
    """Fraction of XP episodes (all ordered pairs ``i != j``, all episodes) that end with a
    quit (the paper's measure, see docs/references.md, section 2). ``quit[M, M, N]`` bool;
    ``nan`` for a single member."""
    q = as_numpy(quit).astype(bool)
    m = _check_square(q, "quit")
    if m < 2:
        return float("nan")
    return float(q[_off_diagonal(m)].mean())


# -------------------------------------------------------------------- bootstrap
def bootstrap_ci(
    samples: Any,
    stat: Callable[..., float],
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    axis: int | Sequence[int] = -1,
) -> ConfidenceInterval:
    """Percentile bootstrap interval of ``stat`` over episodes.

    ``samples`` is one array or a tuple of arrays (then ``stat`` takes them as separate
    arguments, e.g. ``bad_faith_rate(returns, idle_returns)``); ``axis`` is the episode axis of
    each (one int for all, or one per array; the cross-play arrays use axis 2). Each replicate
    redraws, with replacement, the episodes of every cell independently (episodes of different
    pairs are independent runs), then applies ``stat``. Replicates where ``stat`` is ``nan``
    are ignored. The interval is ``[alpha/2, 1 - alpha/2]`` percentiles; ``estimate`` is
    ``stat`` on the original arrays.
    """
    single = not isinstance(samples, tuple)
    arrays = [as_numpy(samples)] if single else [as_numpy(s) for s in samples]
    axes = [axis] * len(arrays) if isinstance(axis, int) else list(axis)
    if len(axes) != len(arrays):
        raise ValueError(f"got {len(axes)} axes for {len(arrays)} arrays")
    moved = [np.moveaxis(a, ax, -1) if a.ndim else a for a, ax in zip(arrays, axes)]

    def redraw(rng: np.random.Generator) -> float:
        return float(stat(*[_redraw(a, rng, ax) for a, ax in zip(moved, axes)]))

    return percentile_bootstrap(float(stat(*arrays)), redraw, n_boot, seed, alpha)


def _redraw(moved: np.ndarray, rng: np.random.Generator, axis: int) -> np.ndarray:
    """Resample the last axis of ``moved`` independently per cell and move it back."""
    n = moved.shape[-1]
    cells = moved.shape[: moved.ndim - 1]
    # ``moved`` had the episode axis moved last; trailing dims after it in the original array
    # (e.g. seats, events) are now before it, so draw per leading cell only and broadcast.
    lead = _lead_dims(moved.ndim, axis)
    idx = rng.integers(0, n, size=cells[:lead] + (1,) * (len(cells) - lead) + (n,))
    idx = np.broadcast_to(idx, moved.shape)
    return np.moveaxis(np.take_along_axis(moved, idx, axis=-1), -1, axis)


def _lead_dims(ndim: int, axis: int) -> int:
    """Number of dims before the episode axis in the original array."""
    return axis % ndim
