"""Behaviour-cloned human proxies: dataset against the recorded trials, accuracy against the
majority baseline, determinism, and the holdout set that includes them."""

from __future__ import annotations

import pytest
import torch

from xpm_bench.envs.reference import load_human_data, parse_state_string
from xpm_bench.errors import EnvArgumentError
from xpm_bench.evaluation import holdout as ho
from xpm_bench.evaluation import human_proxy as hp

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def cramped_train():
    return hp.human_dataset("cramped_room", "train")


@pytest.fixture(scope="module")
def cramped_rows():
    frame = load_human_data("train")
    return frame[frame["layout_id"] == "cramped_room"]


def reference_action_index(recorded) -> int:
    """Index in overcooked_ai_py's ``Action.ALL_ACTIONS`` of a recorded action."""
    from overcooked_ai_py.mdp.actions import Action

    # the 2019 data writes interact as 'INTERACT'; overcooked-ai 1.1.0 as Action.INTERACT
    action = Action.INTERACT if recorded == "INTERACT" else tuple(recorded)
    return Action.ALL_ACTIONS.index(action)


def test_dataset_has_both_players_of_every_transition(cramped_train, cramped_rows):
    obs, actions = cramped_train
    assert obs.dtype == torch.uint8 and actions.dtype == torch.int64
    assert obs.shape == (2 * len(cramped_rows), 26, 5, 4)  # cramped_room is 5 wide, 4 high
    assert actions.shape == (2 * len(cramped_rows),)
    assert int(actions.min()) >= 0 and int(actions.max()) < hp.NUM_ACTIONS


@pytest.mark.parametrize("row", [0, 7, 10, 11, 12, 13, 18, 20, 23, 37])
def test_actions_and_ego_positions_match_the_recording(cramped_train, cramped_rows, row):
    """Rows picked to cover stay, each direction and interact in both seats."""
    obs, actions = cramped_train
    record = cramped_rows.iloc[row]
    joint = parse_state_string(record["joint_action"])
    players = parse_state_string(record["state"])["players"]
    for seat in range(2):
        sample = 2 * row + seat
        assert int(actions[sample]) == reference_action_index(joint[seat])
        # lossless encoding: channel 0 is the ego player's cell, channel 1 the partner's
        x, y = players[seat]["position"]
        ox, oy = players[1 - seat]["position"]
        assert torch.nonzero(obs[sample, 0]).tolist() == [[x, y]]
        assert torch.nonzero(obs[sample, 1]).tolist() == [[ox, oy]]


def test_action_names_follow_the_reference_order():
    from overcooked_ai_py.mdp.actions import Action, Direction

    names = {Direction.NORTH: "north", Direction.SOUTH: "south", Direction.EAST: "east"}
    names |= {Direction.WEST: "west", Action.STAY: "stay", Action.INTERACT: "interact"}
    assert tuple(names[a] for a in Action.ALL_ACTIONS) == hp.ACTION_NAMES


def test_undersampling_keeps_every_active_sample():
    actions = torch.tensor([4, 4, 4, 4, 4, 0, 0, 5, 4, 4])
    kept = hp.undersample_stay(actions, seed=3)
    assert kept.tolist() == sorted(kept.tolist())
    assert set(torch.nonzero(actions != 4).squeeze(1).tolist()) <= set(kept.tolist())
    assert int((actions[kept] == 4).sum()) == 2  # as many as the most frequent other action
    assert torch.equal(kept, hp.undersample_stay(actions, seed=3))


@pytest.fixture(scope="module")
def cramped_proxy():
    # the holdout recipe's memoised training: the holdout test below then reuses it
    return hp._memoised_proxy("cramped_room", hp.PROXY_SEED, hp.DEFAULT_EPOCHS)


def test_proxy_beats_the_majority_baseline_on_the_test_split(cramped_proxy):
    metrics = cramped_proxy.metrics
    print(hp.format_metrics("cramped_room", metrics))
    assert metrics["test_samples"] == 2 * len(
        load_human_data("test").query("layout_id == 'cramped_room'")
    )
    # on the samples where the human acted (not 'stay'): majority is ~28%, the proxy ~65%
    assert metrics["active_test_accuracy"] >= metrics["active_majority_test_accuracy"] + 0.10
    # and it is far above chance among the six actions on all samples too
    assert metrics["test_accuracy"] > 1 / hp.NUM_ACTIONS + 0.10


def test_training_is_deterministic_given_the_seed(cramped_train):
    obs, actions = cramped_train
    obs, actions = obs[:3000], actions[:3000]
    first = hp.train_bc(obs, actions, seed=5, epochs=2)
    again = hp.train_bc(obs, actions, seed=5, epochs=2)
    other = hp.train_bc(obs, actions, seed=6, epochs=2)
    assert first[:2] == again[:2]
    assert all(torch.equal(first[2][k], again[2][k]) for k in first[2])
    assert not all(torch.equal(first[2][k], other[2][k]) for k in first[2])


def test_unknown_layouts_are_rejected():
    with pytest.raises(EnvArgumentError, match="no human data"):
        hp.human_dataset("bottleneck", "train")
    with pytest.raises(EnvArgumentError, match="classic layouts"):
        hp.human_proxy_spec("Overcooked-Bottleneck-v0")


def test_holdout_with_proxy_round_trips_and_its_hash_is_stable(tmp_path, cramped_proxy):
    env_id = "OvercookedClassic-CrampedRoom-v0"
    built = ho.build_holdout(env_id, cache_dir=tmp_path / "a")
    assert built.version == 2
    assert built.partner_names == ["onion-cook", "plate-cook", "full-cook", "bc-human-proxy"]
    proxy = built.partners[-1]
    for key in ("train_accuracy", "test_accuracy", "majority_test_accuracy"):
        assert proxy.params[key] == cramped_proxy.metrics[key]
    loaded = ho.build_holdout(env_id, cache_dir=tmp_path / "a")  # from the cache file
    assert loaded.content_hash == built.content_hash
    assert all(torch.equal(loaded.partners[-1].weights[k], w) for k, w in proxy.weights.items())
    # retrained from scratch (no in-process memo) into another cache: same weights, same hash
    hp._memoised_proxy.cache_clear()
    rebuilt = ho.build_holdout(env_id, cache_dir=tmp_path / "b")
    assert rebuilt.content_hash == built.content_hash

    policy = dict(loaded.policies())["bc-human-proxy"]
    obs, _ = hp.human_dataset("cramped_room", "test")
    policy.reseed(1)
    sampled, _ = policy.act(obs[:500])
    policy.reseed(1)
    assert torch.equal(policy.act(obs[:500])[0], sampled)
    assert int(sampled.min()) >= 0 and int(sampled.max()) < hp.NUM_ACTIONS
    assert len(set(sampled.tolist())) > 1  # stochastic: samples from the softmax


def test_human_proxies_join_both_overcooked_families():
    for family in ("Overcooked", "OvercookedClassic"):
        recipe = ho.RECIPES[family]
        assert recipe.version == 2
        assert ho.overcooked_bc_human_proxies in recipe.groups
    assert ho.RECIPES["MPPMR"].version == 2
