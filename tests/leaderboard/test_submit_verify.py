"""Submit and verify: real evaluations, refusals that write nothing, tampering caught."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
from lb_helpers import OPTIONS, random_population, run_main, tree

from xpm_bench.errors import LeaderboardError
from xpm_bench.evaluation.protocol import PROTOCOLS
from xpm_bench.io import atomic_directory, write_json
from xpm_bench.leaderboard import checks
from xpm_bench.leaderboard.board import BoardKey, find_entries, read_entry
from xpm_bench.leaderboard.submit import SubmitOptions, resubmit, submit
from xpm_bench.leaderboard.verify import compare_results, verify_entries

SUBMIT_FLAGS = ("--generation-command", OPTIONS.generation_command, "--description", "x")


def submitted(evaluated, root, **options):
    pop, result_path, _ = evaluated
    return submit(result_path, pop, root=root, options=dataclasses.replace(OPTIONS, **options))


def test_submit_then_full_verify_passes(evaluated, root):
    pop, result_path, result = evaluated
    entry = submitted(evaluated, root)
    assert entry.path == root / "MPPMR-v0" / "tiny-v1" / entry.id
    assert entry.id == f"random-init-m3-{result['population']['hash'][7:15]}"
    assert entry.result == result  # the evaluator's JSON, unchanged
    assert (entry.path / "population.pt").read_bytes() == pop.read_bytes()
    assert entry.metadata["generation_command"] == OPTIONS.generation_command
    assert entry.metadata["evaluation_command"].startswith(
        "xpm-bench evaluate population.pt --protocol tiny --threads 1"
    )
    low, high = result["ego"]["mean_return_ci"]
    assert low <= result["ego"]["mean_return"] <= high
    assert result["machine"]["threads"] == 1 and result["machine"]["torch"]
    [report] = verify_entries(find_entries(root))
    assert report.mode == "exact" and report.problems == [], report.problems


def test_results_from_another_machine_type_are_compared_within_their_intervals(evaluated, root):
    entry = submitted(evaluated, root)
    path = entry.path / "submission.json"
    data = json.loads(path.read_text())
    # As if computed elsewhere: a CPU capability no machine reports (this one may be AVX512).
    data["result"]["machine"]["cpu_capability"] = "OTHER-ISA"
    path.write_text(json.dumps(data))
    [report] = verify_entries(find_entries(root))
    assert report.mode == "ci" and report.ok, report.problems
    assert any("without a CI not compared" in note for note in report.notes)


@pytest.mark.parametrize(
    ("field", "compare"),
    [
        (("metrics", "xp_mean", "value"), "exact"),
        (("ego", "mean_return"), "ci"),
    ],
    ids=["exact", "outside-ci"],
)
def test_tampered_number_fails_full_verify_and_names_it(evaluated, root, capsys, field, compare):
    entry = submitted(evaluated, root)
    path = entry.path / "submission.json"
    data = json.loads(path.read_text())
    node = data["result"]
    for key in field[:-1]:
        node = node[key]
    node[field[-1]] += 0.5  # outside any interval: returns here are in [0, 1] and ~0
    path.write_text(json.dumps(data, indent=2))

    quick = run_main(capsys, "leaderboard", "verify", str(root), "--quick")
    assert quick.code == 0, quick.out  # stored checks cannot see a changed number
    full = run_main(capsys, "leaderboard", "verify", str(root), "--compare", compare)
    assert full.code == 1
    name = ".".join(field)
    problems = [line for line in full.out.splitlines() if line.strip().startswith("- ")]
    assert len(problems) == 1 and problems[0].strip().startswith(f"- {name}: reported"), full.out
    assert "FAIL" in full.out and "0 of 1 entries verified" in full.out


def test_wrong_population_hash_is_refused_and_writes_nothing(evaluated, root, tmp_path, capsys):
    _, result_path, _ = evaluated
    other = random_population(tmp_path / "other.pt", seed=1)
    out = run_main(
        capsys, "leaderboard", "submit", str(result_path), "--population", str(other),
        "--root", str(root), *SUBMIT_FLAGS,
    )  # fmt: skip
    assert out.code == 2
    assert len(out.err.strip().splitlines()) == 1 and "population hash mismatch" in out.err
    assert tree(root) == {}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda r: r["protocol"].update(version=0),
            "old protocol: the result was scored under tiny v0",
        ),
        (lambda r: r["protocol"].update(episodes=5), "differs from the registered one in episodes"),
        (lambda r: r["holdout"].update(version=1), "old holdout set"),
        (lambda r: r["protocol"].update(name="huge"), "unknown protocol 'huge'"),
    ],
    ids=["old-protocol", "modified-protocol", "old-holdout", "unknown-protocol"],
)
def test_results_from_other_protocols_are_refused(evaluated, root, tmp_path, capsys, edit, message):
    pop, _, result = evaluated
    changed = json.loads(json.dumps(result))
    edit(changed)
    write_json(tmp_path / "old.json", changed)
    out = run_main(
        capsys, "leaderboard", "submit", str(tmp_path / "old.json"), "--population", str(pop),
        "--root", str(root), *SUBMIT_FLAGS,
    )  # fmt: skip
    assert out.code == 2 and message in out.err, out.err
    assert len(out.err.strip().splitlines()) == 1
    assert tree(root) == {}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r.pop("metrics"), "'metrics' is missing at (top level)"),
        (
            lambda r: r["population"].update(pop_size="3"),
            "population/pop_size must be of type integer",
        ),
        (lambda r: r["population"].update(hash="md5:00"), "population/hash must match"),
        (lambda r: r.update(result_format_version=99), "result_format_version 99 is not supported"),
    ],
    ids=["missing-field", "wrong-type", "bad-hash", "future-format"],
)
def test_malformed_results_are_refused(evaluated, root, tmp_path, capsys, edit, message):
    pop, _, result = evaluated
    changed = json.loads(json.dumps(result))
    edit(changed)
    write_json(tmp_path / "bad.json", changed)
    out = run_main(
        capsys, "leaderboard", "submit", str(tmp_path / "bad.json"), "--population", str(pop),
        "--root", str(root), *SUBMIT_FLAGS,
    )  # fmt: skip
    assert out.code == 2 and message in out.err, out.err
    assert len(out.err.strip().splitlines()) == 1
    assert tree(root) == {}


def test_cli_refuses_a_file_that_is_not_json(tmp_path, cli):
    """Through the installed command: exit code 2, one line, nothing written."""
    bad, root = tmp_path / "bad.json", tmp_path / "leaderboards"
    bad.write_text("{not json")
    out = cli("leaderboard", "submit", str(bad), "--population", str(bad), "--root", str(root))
    assert out.code == 2 and "is malformed: not valid JSON" in out.err, out.err
    assert len(out.err.strip().splitlines()) == 1
    assert not root.exists()


def test_duplicates_are_refused(evaluated, root):
    submitted(evaluated, root)
    before = tree(root)
    with pytest.raises(
        LeaderboardError, match="duplicate: population sha256:.* already on the board"
    ):
        submitted(evaluated, root, entry_id="another-name")
    assert tree(root) == before


def test_duplicate_entry_id(evaluated, root, tmp_path):
    from xpm_bench.evaluation.evaluate import file_digest

    _, _, result = evaluated
    submitted(evaluated, root, entry_id="mine")
    other = random_population(tmp_path / "other.pt", seed=2)
    changed = json.loads(json.dumps(result))
    changed["population"]["hash"] = file_digest(other)
    write_json(tmp_path / "r.json", changed)
    with pytest.raises(LeaderboardError, match="duplicate: entry 'mine' is already on the board"):
        submit(
            tmp_path / "r.json",
            other,
            root=root,
            options=dataclasses.replace(OPTIONS, entry_id="mine"),
        )


def test_results_must_share_the_board_holdout_set(evaluated, root, tmp_path):
    """A second population scored against a different holdout set cannot join the board."""
    from xpm_bench.evaluation.evaluate import file_digest

    submitted(evaluated, root)
    _, _, result = evaluated
    other = random_population(tmp_path / "other.pt", seed=3)
    changed = json.loads(json.dumps(result))
    changed["population"]["hash"] = file_digest(other)
    changed["holdout"]["hash"] = "sha256:" + "0" * 64
    write_json(tmp_path / "r.json", changed)
    with pytest.raises(LeaderboardError, match="holdout differs from entry"):
        submit(tmp_path / "r.json", other, root=root, options=OPTIONS)


def test_result_on_the_wrong_board_is_refused(evaluated, root):
    wrong = root / "MPPMR-v0" / "default-v1"
    with pytest.raises(
        LeaderboardError, match="belongs on board MPPMR-v0/tiny-v1, not MPPMR-v0/default-v1"
    ):
        submit(evaluated[1], evaluated[0], board=wrong, options=OPTIONS)
    assert not wrong.exists()


def test_quick_verify_catches_a_swapped_population_file(evaluated, root, tmp_path, capsys):
    entry = submitted(evaluated, root)
    shutil.copyfile(random_population(tmp_path / "x.pt", seed=4), entry.path / "population.pt")
    out = run_main(capsys, "leaderboard", "verify", str(entry.path), "--quick")
    assert out.code == 1 and "population file hash sha256:" in out.out
    assert "does not match the recorded" in out.out


def test_quick_verify_catches_a_moved_entry(evaluated, root):
    entry = submitted(evaluated, root)
    moved = root / "MPPMR-v0" / "default-v1" / entry.id
    moved.parent.mkdir(parents=True)
    entry.path.rename(moved)
    [report] = verify_entries([read_entry(moved)], quick=True)
    assert any("belongs on board MPPMR-v0/tiny-v1" in p for p in report.problems)


def test_resubmit_after_a_protocol_version_bump(evaluated, root, monkeypatch):
    entry = submitted(evaluated, root, authors="A. Author")
    old_board = entry.board_dir
    with pytest.raises(LeaderboardError, match="current tiny protocol .* no newer board"):
        resubmit(old_board, root)
    bumped = dataclasses.replace(PROTOCOLS[("MPPMR", "tiny")], version=2, episodes=3)
    monkeypatch.setitem(PROTOCOLS, ("MPPMR", "tiny"), bumped)
    with pytest.raises(LeaderboardError, match="old protocol"):
        submitted(evaluated, root, entry_id="late")
    [report] = verify_entries(find_entries(old_board), quick=True)
    assert report.ok and any("retired board" in note for note in report.notes)

    [new] = resubmit(old_board, root)
    assert new.board_dir == root / "MPPMR-v0" / "tiny-v2" and new.id == entry.id
    assert new.result["protocol"]["episodes"] == 3 and new.result["metrics"]["episodes"] == 3
    assert new.metadata["resubmitted_from"] == f"MPPMR-v0/tiny-v1/{entry.id}"
    same = ("description", "authors", "generation_command", "method")
    assert {k: new.metadata[k] for k in same} == {k: entry.metadata[k] for k in same}
    assert (new.path / "population.pt").read_bytes() == (entry.path / "population.pt").read_bytes()
    assert resubmit(old_board, root) == []  # already there: nothing to do
    [full] = verify_entries([new])
    assert full.ok, full.problems


# ----------------------------------------------------------------- pure comparisons
REPORTED = {
    "env_id": "MPPMR-v0",
    "xp_matrix": [[1.0, 0.5]],
    "metrics": {"sp_mean": {"value": 0.9, "ci": [0.8, 1.0]}, "episodes": 4},
    "ego": {"mean_return": 0.5, "mean_return_ci": [0.4, 0.6]},
    "timings_s": {"crossplay_s": 1.0},
}


def _with(**changes):
    data = json.loads(json.dumps(REPORTED))
    for path, value in changes.items():
        node = data
        *parents, leaf = path.split("__")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return data


def test_compare_exact_names_every_changed_field_and_ignores_timings():
    again = _with(metrics__sp_mean__value=0.9000001, ego__mean_return=0.55, timings_s={"x": 2.0})
    mismatches, unchecked = compare_results(REPORTED, again, "exact")
    assert [m.split(":")[0] for m in mismatches] == ["ego.mean_return", "metrics.sp_mean.value"]
    assert unchecked == []
    assert compare_results(REPORTED, json.loads(json.dumps(REPORTED)), "exact") == ([], [])


def test_compare_ci_accepts_values_inside_the_reported_interval():
    inside = _with(metrics__sp_mean__value=0.85, ego__mean_return=0.41, xp_matrix=[[0.9, 0.4]])
    mismatches, unchecked = compare_results(REPORTED, inside, "ci")
    assert mismatches == []
    assert unchecked == ["xp_matrix[0][0]", "xp_matrix[0][1]"]  # no interval to judge by
    outside = _with(metrics__sp_mean__value=0.7, metrics__episodes=5)
    mismatches, _ = compare_results(REPORTED, outside, "ci")
    assert [m.split(":")[0] for m in mismatches] == ["metrics.episodes", "metrics.sp_mean.value"]
    assert "outside the reported CI [0.8, 1.0]" in mismatches[1]


def test_compare_reports_fields_missing_on_either_side():
    fewer = json.loads(json.dumps(REPORTED))
    del fewer["ego"]["mean_return_ci"]
    mismatches, _ = compare_results(REPORTED, fewer, "exact")
    assert mismatches and all("missing from the reproduction" in m for m in mismatches)
    mismatches, _ = compare_results(fewer, REPORTED, "exact")
    assert all("missing from the submission" in m for m in mismatches)


# ------------------------------------------------------------------ other pieces
def test_generation_command_is_checked_against_the_population_config():
    from xpm_bench.generators.config import config_to_dict
    from xpm_bench.generators.sp import preset
    from xpm_bench.population import Population

    config = config_to_dict(preset("smoke", "MPPMR-v0"))
    config["ppo"]["lr"] = 0.0005
    pop = Population("MPPMR-v0", "sp", config, {"seed": 3}, None, members=[])
    rebuilt = checks.generation_command_for(pop)
    assert rebuilt == (
        "xpm-bench generate --method sp --env MPPMR-v0 --pop-size 0 --preset smoke --seed 3 "
        "--set ppo.lr=0.0005 -o population.pt"
    )
    checks.check_generation_command(rebuilt, pop, "t")
    with pytest.raises(LeaderboardError, match="does not give the population's config .*ppo.lr"):
        checks.check_generation_command(rebuilt.replace(" --set ppo.lr=0.0005", ""), pop, "t")
    with pytest.raises(LeaderboardError, match="--seed is 4 but the population has 3"):
        checks.check_generation_command(rebuilt.replace("--seed 3", "--seed 4"), pop, "t")
    with pytest.raises(LeaderboardError, match="No such option: --bogus"):
        checks.check_generation_command(rebuilt + " --bogus", pop, "t")


def test_atomic_directory_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "entry"
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "a.json").write_text("{}")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with atomic_directory(target) as tmp:
        (tmp / "a.json").write_text("{}")
    assert (target / "a.json").read_text() == "{}"
    with pytest.raises(FileExistsError), atomic_directory(target):
        pass


def test_board_key_round_trips_through_the_folder_name(tmp_path):
    key = BoardKey("OvercookedClassic-CrampedRoom-v0", "default", 3)
    assert BoardKey.of_path(key.path(tmp_path)) == key
    with pytest.raises(LeaderboardError, match="not a board folder"):
        BoardKey.of_path(tmp_path / "MPPMR-v0" / "default")


def test_submit_options_reference_a_large_population_by_url(evaluated, root):
    with pytest.raises(LeaderboardError, match="over the 0 MiB .* --population-url"):
        submitted(evaluated, root, max_copy_bytes=10)
    entry = submitted(evaluated, root, max_copy_bytes=10, population_url="file:///pops/p.pt")
    assert entry.data["population"]["url"] == "file:///pops/p.pt"
    assert not (entry.path / "population.pt").exists()
    assert SubmitOptions().max_copy_bytes == 20 * 2**20


@pytest.mark.slow
def test_cli_end_to_end_under_the_registered_smoke_protocol(tmp_path, cli, monkeypatch):
    """evaluate -> submit -> render -> full verify -> tamper -> full verify fails, all through
    the installed command and the real ``smoke`` protocol (minutes)."""
    monkeypatch.setenv("XPM_BENCH_CACHE", str(tmp_path / "cache"))
    pop = random_population(tmp_path / "pop.pt")
    root, result = tmp_path / "leaderboards", tmp_path / "result.json"
    assert cli("evaluate", str(pop), "--protocol", "smoke", "--out", str(result)).code == 0
    out = cli("leaderboard", "submit", str(result), "--population", str(pop), "--root", str(root),
              *SUBMIT_FLAGS)  # fmt: skip
    assert out.code == 0, out.err
    assert cli("leaderboard", "render", "--root", str(root)).code == 0
    assert cli("leaderboard", "render", "--root", str(root), "--check").code == 0
    assert cli("leaderboard", "verify", str(root)).code == 0
    [path] = root.rglob("submission.json")
    data = json.loads(path.read_text())
    data["result"]["metrics"]["sp_mean"]["value"] += 0.25
    path.write_text(json.dumps(data))
    out = cli("leaderboard", "verify", str(root))
    assert out.code == 1 and "metrics.sp_mean.value: reported" in out.out
