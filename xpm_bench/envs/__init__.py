"""Every ``register(...)`` call lives here, so the registry is complete after one import."""

from xpm_bench.registry import register

register(
    "MPPMR-v0",
    entry_point="xpm_bench.envs.mppmr:MPPMREnv",
    kwargs={"n_landmarks": 4, "n_lanes": 2, "lane_length": 2, "horizon": 16},
    description="Multi-Path Point-Mass Rendezvous: 4 landmarks x 2 lanes, horizon 16",
)
