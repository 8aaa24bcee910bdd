"""``xpm-bench generate`` and ``xpm-bench info`` from the command line."""

import json

import pytest

from xpm_bench.cli.main import main
from xpm_bench.population import load_population

TINY = ["--set", "env_steps=2048", "--set", "num_envs=16", "--set", "rollout_steps=16"]


def _run(argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code


def test_generate_then_info(tmp_path, capsys):
    out = tmp_path / "pop.pt"
    argv = ["generate", "--method", "sp", "--env", "MPPMR-v0", "--pop-size", "2"]
    argv += ["--preset", "smoke", "--seed", "3", "-o", str(out), "--quiet", *TINY]
    assert _run(argv) == 0
    pop = load_population(out)
    assert pop.method == "sp" and pop.env_id == "MPPMR-v0" and len(pop) == 2
    assert pop.ledger["env_steps"] == 2 * 2048
    assert pop.config["env_steps"] == 2048 and pop.seeds["seed"] == 3
    assert not (tmp_path / "pop.pt.run").exists()  # a finished run cleans up its checkpoint
    capsys.readouterr()
    assert _run(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "MPPMR-v0" in text and "sp-1" in text and "4,096 env steps" in text
    assert _run(["info", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["members"] == 2 and data["ledger"]["env_steps_by_kind"]["sp"] == 4096


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--method", "nope", "--env", "MPPMR-v0"], "unknown method 'nope'"),
        (["--method", "sp", "--env", "Nowhere-v0"], "unknown environment id 'Nowhere-v0'"),
        (["--method", "sp", "--env", "MPPMR-v0", "--preset", "huge"], "unknown preset 'huge'"),
        (["--method", "sp", "--env", "MPPMR-v0", "--pop-size", "0"], "pop-size must be >= 1"),
        (["--method", "sp", "--env", "MPPMR-v0", "--set", "bogus=1"], "unknown config field"),
        (["--method", "sp", "--env", "MPPMR-v0", "--resume"], "nothing to resume"),
        (["--method", "sp", "--env", "MPPMR-v0", "--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_user_errors_exit_2_with_one_line_and_no_file(tmp_path, capsys, extra, message):
    out = tmp_path / "pop.pt"
    code = _run(["generate", *extra, "-o", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_info_rejects_bad_file_with_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_text("not a population")
    assert _run(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.pt" in err and len(err.strip().splitlines()) == 1
