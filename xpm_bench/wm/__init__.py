"""World model for two-player envs: RSSM, codecs, heads, replay and an imagined env.

Start with :class:`~xpm_bench.wm.model.WorldModel` (``WorldModel.for_env(env, cfg)``),
:class:`~xpm_bench.wm.replay.Replay` and :class:`~xpm_bench.wm.train.WMTrainer`.
"""

from xpm_bench.wm.config import PRESETS, WMConfig, preset
from xpm_bench.wm.model import WorldModel, index_state

__all__ = ["PRESETS", "WMConfig", "WorldModel", "index_state", "preset"]
