"""Population files: round trips, and every kind of bad file rejected with a clear message."""

import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from xpm_bench.agents.networks import build_network
from xpm_bench.errors import PopulationFileError
from xpm_bench.population import (
    FORMAT_NAME,
    Member,
    Population,
    load_population,
    save_population,
)


def _member(name="a", seed=0, gru=0):
    kwargs = {"obs_shape": [115], "num_outputs": 6, "hidden": 16, "gru": gru}
    torch.manual_seed(seed)
    net = build_network("mlp", kwargs)
    return Member(name, "mlp", kwargs, net.state_dict(), seed=seed, info={"note": "x"})


def _pop(**overrides):
    fields = dict(
        env_id="MPPMR-v0",
        method="sp",
        config={"env_steps": 10, "ppo": {"lr": 0.001}},
        seeds={"seed": 3, "members": [1, 2]},
        ledger={
            "env_steps": 30,
            "env_steps_by_kind": {"sp": 20, "xp": 10, "mp": 0},
            "imagined_steps": 5,
            "wall_clock_s": 1.5,
        },
        members=[_member("a", 1), _member("b", 2, gru=8)],
    )
    fields.update(overrides)
    return Population(**fields)


def _valid_dict():
    return _pop().to_dict()


def test_round_trip_preserves_everything(tmp_path):
    pop = _pop()
    path = save_population(pop, tmp_path / "pop.pt")
    back = load_population(path)
    assert (back.env_id, back.method, back.config, back.seeds, back.ledger) == (
        pop.env_id,
        pop.method,
        pop.config,
        pop.seeds,
        pop.ledger,
    )
    assert back.format_version == 1 and back.library_version == pop.library_version
    for a, b in zip(pop.members, back.members):
        assert (a.name, a.arch, a.arch_kwargs, a.seed, a.info) == (
            b.name,
            b.arch,
            b.arch_kwargs,
            b.seed,
            b.info,
        )
        assert a.state_dict.keys() == b.state_dict.keys()
        for key in a.state_dict:
            assert torch.equal(a.state_dict[key], b.state_dict[key])
    obs = torch.rand(4, 115)
    policies = back.policies(deterministic=True)
    assert policies[1].recurrent and policies[1].reset_carry(4).shape == (4, 8)
    ref = pop.members[0].build()
    assert torch.equal(policies[0].act(obs)[0], ref(obs)[0].argmax(-1))
    assert not list(tmp_path.glob(".*tmp"))  # no temp file left behind


def _write(tmp_path, data) -> Path:
    path = tmp_path / "bad.pt"
    torch.save(data, path)
    return path


def _mutate(fn):
    data = _valid_dict()
    fn(data)
    return data


BAD_DICTS = {
    "foreign state_dict": (lambda: {"weight": torch.zeros(2)}, "not an xpm-bench population"),
    "foreign list": (lambda: [1, 2, 3], "top level is a list"),
    "future version": (
        lambda: _mutate(lambda d: d.update(format_version=99)),
        "'format_version' is 99",
    ),
    "missing env_id": (lambda: _mutate(lambda d: d.pop("env_id")), "missing field 'env_id'"),
    "bad env id": (
        lambda: _mutate(lambda d: d.update(env_id="mppmr")),
        "'env_id' 'mppmr' is not a versioned id",
    ),
    "method not a string": (lambda: _mutate(lambda d: d.update(method=3)), "'method' must be str"),
    "missing ledger": (lambda: _mutate(lambda d: d.pop("ledger")), "missing field 'ledger'"),
    "ledger sum": (
        lambda: _mutate(lambda d: d["ledger"].update(env_steps=31)),
        "not the sum of 'ledger.env_steps_by_kind'",
    ),
    "negative steps": (
        lambda: _mutate(lambda d: d["ledger"].update(imagined_steps=-1)),
        "'ledger.imagined_steps' must be >= 0",
    ),
    "no members": (lambda: _mutate(lambda d: d.update(members=[])), "'members' is empty"),
    "duplicate names": (
        lambda: _mutate(lambda d: d["members"][1].update(name="a")),
        "repeats the name 'a'",
    ),
    "unknown arch": (
        lambda: _mutate(lambda d: d["members"][0].update(arch="transformer")),
        "unknown architecture 'transformer'",
    ),
    "arch kwargs": (
        lambda: _mutate(lambda d: d["members"][0]["arch_kwargs"].update(hidden=32)),
        "state_dict does not fit 'mlp'",
    ),
    "missing weight": (
        lambda: _mutate(lambda d: d["members"][0]["state_dict"].pop("head.bias")),
        "member 'a': state_dict does not fit",
    ),
    "weight not tensor": (
        lambda: _mutate(lambda d: d["members"][0]["state_dict"].update({"head.bias": [0.0]})),
        r"members\[0\]\.state_dict\['head.bias'\] must be a tensor",
    ),
    "nan weights": (
        lambda: _mutate(lambda d: d["members"][0]["state_dict"]["head.bias"].fill_(float("nan"))),
        "NaN or infinite",
    ),
    "config not plain": (
        lambda: _mutate(lambda d: d["config"].update(x=torch.zeros(1))),
        "'config.x' holds a Tensor",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_DICTS))
def test_malformed_files_rejected_naming_the_problem(tmp_path, case):
    make_data, message = BAD_DICTS[case]
    path = _write(tmp_path, make_data())
    with pytest.raises(PopulationFileError, match=message):
        load_population(path)


def test_missing_empty_truncated_and_garbage_files(tmp_path):
    with pytest.raises(PopulationFileError, match="does not exist"):
        load_population(tmp_path / "nope.pt")
    with pytest.raises(PopulationFileError, match="is not a file"):
        load_population(tmp_path)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(PopulationFileError, match="is empty"):
        load_population(tmp_path / "empty.pt")
    good = save_population(_pop(), tmp_path / "good.pt")
    raw = good.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(PopulationFileError, match="truncated or corrupt"):
        load_population(tmp_path / "trunc.pt")
    (tmp_path / "text.pt").write_text("hello, I am not a torch file\n")
    with pytest.raises(PopulationFileError, match="not a torch file|truncated or corrupt"):
        load_population(tmp_path / "text.pt")


class _Payload:
    """Pickling this object records a call to os.system that would create a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_running_pickle_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    data = _valid_dict()
    data["config"] = {"evil": _Payload(marker)}
    path = tmp_path / "hostile.pt"
    torch.save(data, path)  # a zip-format torch file whose pickle calls os.system
    with zipfile.ZipFile(path) as archive:  # the payload really is in there
        assert any(b"system" in archive.read(n) for n in archive.namelist() if n.endswith(".pkl"))
    with pytest.raises(PopulationFileError, match="refused"):
        load_population(path)
    assert not marker.exists()
    legacy = tmp_path / "legacy.pt"  # the same payload as a bare (non-zip) pickle
    legacy.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(PopulationFileError, match="refused|not a torch file"):
        load_population(legacy)
    assert not marker.exists()


def test_save_is_atomic_and_validates(tmp_path):
    target = tmp_path / "pop.pt"
    save_population(_pop(), target)
    before = target.read_bytes()
    bad = _pop(env_id="not an id")
    with pytest.raises(PopulationFileError):
        save_population(bad, target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pop.pt"]


def test_hand_built_file_from_the_docs_loads(tmp_path):
    # The example from docs/population_format.md, kept in sync by running it here.
    doc = Path(__file__).resolve().parents[1] / "docs" / "population_format.md"
    text = doc.read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(code, str(doc), "exec"), {})
    finally:
        os.chdir(cwd)
    pop = load_population(tmp_path / "pop.pt")
    assert pop.env_id == "MPPMR-v0" and len(pop) == 1
    assert FORMAT_NAME == "xpm-bench-population"
