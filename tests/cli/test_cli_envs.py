import xpm_bench


def test_version(cli):
    result = cli("--version")
    assert result.code == 0 and result.out.strip() == f"xpm-bench {xpm_bench.__version__}"


def test_envs_list_shows_every_id(cli):
    result = cli("envs", "list")
    assert result.code == 0
    for env_id in xpm_bench.registered_ids():
        assert env_id in result.out


def test_envs_show_renders_the_start_state(cli):
    result = cli("envs", "show", "MPPMR-v0")
    assert result.code == 0
    assert "rendezvous" in result.out and "A.B" in result.out


def test_unknown_id_exits_2_with_one_line(cli):
    result = cli("envs", "show", "MPPR-v0")
    assert result.code == 2
    assert result.err.strip().count("\n") == 0
    assert "unknown environment id 'MPPR-v0'" in result.err and "MPPMR-v0" in result.err


def test_unknown_version_exits_2(cli):
    result = cli("envs", "show", "MPPMR-v3")
    assert result.code == 2 and "registered: MPPMR-v0" in result.err


def test_rollout_prints_the_convention_table(cli):
    result = cli("envs", "rollout", "MPPMR-v0", "--num-envs", "64", "--steps", "20")
    assert result.code == 0 and "scripted conventions" in result.out and "steps/s" in result.out
