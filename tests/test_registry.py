import pytest

import xpm_bench
from xpm_bench.errors import EnvArgumentError, UnknownEnvError, XpmBenchError
from xpm_bench.registry import parse_id, register


def test_ids_follow_the_grammar():
    for env_id in xpm_bench.registered_ids():
        name, version = parse_id(env_id)
        assert env_id == f"{name}-v{version}"


@pytest.mark.parametrize("bad", ["MPPMR", "MPPMR-0", "-v0", "MPPMR-v", "a-b-c-v0", "MPPMR v0"])
def test_malformed_id(bad):
    with pytest.raises(UnknownEnvError, match="malformed environment id"):
        xpm_bench.make(bad)


def test_unknown_id_suggests_close_matches():
    with pytest.raises(UnknownEnvError, match="did you mean 'MPPMR-v0'"):
        xpm_bench.make("MPPR-v0")


def test_unknown_version_lists_registered_versions():
    with pytest.raises(UnknownEnvError, match=r"registered: MPPMR-v0"):
        xpm_bench.make("MPPMR-v7")


def test_unknown_keyword_lists_accepted():
    with pytest.raises(
        EnvArgumentError, match=r"does not accept keyword\(s\) lanes; accepted: .*n_lanes"
    ):
        xpm_bench.make("MPPMR-v0", lanes=3)


def test_bad_keyword_value():
    with pytest.raises(EnvArgumentError, match="n_landmarks must be in 1..4"):
        xpm_bench.make("MPPMR-v0", n_landmarks=9)


def test_errors_are_catchable_as_builtins():
    with pytest.raises(KeyError):
        xpm_bench.make("Nope-v0")
    with pytest.raises(TypeError):
        xpm_bench.make("MPPMR-v0", colour="red")
    assert issubclass(UnknownEnvError, XpmBenchError)


def test_reregistering_an_id_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        register("MPPMR-v0", entry_point="xpm_bench.envs.mppmr:MPPMREnv")


def test_kwargs_override_defaults_and_are_recorded():
    env = xpm_bench.make("MPPMR-v0", horizon=9)
    assert env.horizon == 9
    assert env.env_kwargs["horizon"] == 9 and env.env_id == "MPPMR-v0"
    assert xpm_bench.spec("MPPMR-v0").kwargs["horizon"] == 16
