"""Sweep specs: expansion into jobs, and every bad spec refused before any job starts."""

from __future__ import annotations

import json
import sys

import pytest

from xpm_bench.generators import generator_names
from xpm_bench.sweep.spec import Resources, SweepSpecError, parse_spec

GOOD = """
name: grid
methods: [sp]
envs: [MPPMR-v0, Overcooked-CrampedRoom-v0]
pop_sizes: [2, 4]
seeds: [0, 1, 2]
preset: smoke
protocol: smoke
set: {sp: ["ppo.lr=3e-4", "env_steps=4096"]}
resources: {num_cpus: 2, num_gpus: 0}
"""


def test_a_spec_expands_to_one_job_per_grid_cell():
    spec = parse_spec(GOOD)
    jobs = spec.jobs()
    assert len(jobs) == 1 * 2 * 2 * 3
    assert len({j.id for j in jobs}) == len(jobs)
    assert jobs[0].id == "sp__MPPMR-v0__M2__s0"
    assert jobs[-1].id == "sp__Overcooked-CrampedRoom-v0__M4__s2"
    assert all(j.overrides == ("ppo.lr=3e-4", "env_steps=4096") for j in jobs)
    assert jobs[0].resources == Resources(num_cpus=2.0, num_gpus=0.0)
    assert jobs[0].resources.threads == 2 and jobs[0].resources.device == "cpu"
    assert parse_spec(json.dumps(spec.to_dict())) == spec  # JSON is YAML: a round trip


def test_defaults_and_every_registered_method_are_accepted():
    methods = ", ".join(generator_names())
    spec = parse_spec(
        f"name: x\nmethods: [{methods}]\nenvs: [MPPMR-v0]\npop_sizes: [1]\nseeds: [0]"
    )
    assert spec.methods == tuple(generator_names())
    assert (spec.preset, spec.protocol, spec.set) == ("default", "default", {})
    assert spec.resources == Resources()


def spec_text(**changes) -> str:
    base = {
        "name": "bad",
        "methods": "[sp]",
        "envs": "[MPPMR-v0]",
        "pop_sizes": "[1]",
        "seeds": "[0]",
        "preset": "smoke",
        "protocol": "smoke",
    }
    base.update(changes)
    return "\n".join(f"{k}: {v}" for k, v in base.items() if v is not None) + "\n"


BAD_SPECS = [
    ("missing", None, "does not exist"),
    ("empty", "", "is empty"),
    ("comments only", "# nothing here\n", "is empty"),
    ("not yaml", "name: [unclosed\n", "not valid YAML"),
    ("a list", "- sp\n- lipo\n", "must be a YAML mapping"),
    ("unknown key", spec_text(method="[sp]"), "method: unknown key; accepted: name, methods"),
    ("missing key", spec_text(envs=None), "envs: missing"),
    ("unknown method", spec_text(methods="[sp, lipoo]"), "methods: unknown method 'lipoo'"),
    ("unknown env", spec_text(envs="[Nowhere-v0]"), "envs: unknown environment id"),
    ("unknown preset", spec_text(preset="huge"), "preset: unknown preset 'huge'"),
    ("unknown protocol", spec_text(protocol="strict"), "protocol: unknown protocol 'strict'"),
    ("unknown field", spec_text(set="{sp: [bogus=1]}"), "set.sp: unknown config field 'bogus'"),
    ("bad value", spec_text(set="{sp: [env_steps=many]}"), "set.sp: config field 'env_steps'"),
    ("not an override", spec_text(set="{sp: [lr]}"), "must look like field=value"),
    ("set of another method", spec_text(set="{lipo: [x=1]}"), "set.lipo: names no method"),
    ("pop size 0", spec_text(pop_sizes="[0, 2]"), "pop_sizes: must be a list of integers >= 1"),
    ("seed twice", spec_text(seeds="[1, 1]"), "seeds: lists a value twice"),
    ("reserved seed", spec_text(seeds="[900000000]"), "seeds: training seed must be in"),
    ("bad name", spec_text(name="'a/b'"), "name: must be a folder-safe name"),
    ("resource key", spec_text(resources="{cpus: 1}"), "resources.cpus: unknown key"),
    ("zero cpus", spec_text(resources="{num_cpus: 0}"), "resources.num_cpus: must be > 0"),
]


@pytest.mark.parametrize("text,message", [b[1:] for b in BAD_SPECS], ids=[b[0] for b in BAD_SPECS])
def test_bad_specs_exit_2_with_one_line_and_no_output(tmp_path, capsys, run_main, text, message):
    path = tmp_path / "spec.yaml"
    if text is not None:
        path.write_text(text)
    out = tmp_path / "out"
    code = run_main("sweep", "run", str(path), "--out", str(out), "--quiet")
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_ray_executor_without_ray_says_how_to_install_it(tmp_path, capsys, run_main, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    path = tmp_path / "spec.yaml"
    path.write_text(spec_text())
    code = run_main("sweep", "run", str(path), "--out", str(tmp_path / "o"), "--executor", "ray")
    err = capsys.readouterr().err
    assert code == 2 and 'pip install "xpm-bench[ray]"' in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--executor", "dask"], "unknown executor 'dask'; accepted: local, ray"),
        (["--address", "auto"], "--address and --num-cpus are for --executor ray"),
        (["--retries", "-1"], "--retries must be >= 0"),
    ],
)
def test_bad_options_exit_2(tmp_path, capsys, run_main, args, message):
    path = tmp_path / "spec.yaml"
    path.write_text(spec_text())
    code = run_main("sweep", "run", str(path), "--out", str(tmp_path / "o"), *args)
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_folder_holding_a_different_job_is_refused_untouched(tmp_path, capsys, run_main):
    out = tmp_path / "o"
    job_dir = out / "jobs" / "sp__MPPMR-v0__M1__s0"
    job_dir.mkdir(parents=True)
    other = parse_spec(spec_text(preset="default")).jobs()[0].to_dict()
    (job_dir / "job.json").write_text(json.dumps(other))
    (out / "spec.json").write_text("{}")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    path = tmp_path / "spec.yaml"
    path.write_text(spec_text())
    assert run_main("sweep", "run", str(path), "--out", str(out), "--quiet") == 2
    assert "already holds job sp__MPPMR-v0__M1__s0 with preset='default'" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_status_and_report_of_a_folder_that_is_no_sweep(tmp_path, capsys, run_main):
    assert run_main("sweep", "status", str(tmp_path)) == 2
    assert "not a sweep folder" in capsys.readouterr().err
    assert run_main("sweep", "report", str(tmp_path)) == 2


def test_parse_errors_name_the_source():
    with pytest.raises(SweepSpecError, match=r"^my\.yaml: pop_sizes"):
        parse_spec(spec_text(pop_sizes="two"), source="my.yaml")
