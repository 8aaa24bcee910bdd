"""Quiet, lazy access to the reference ``overcooked_ai_py`` package.

Importing ``overcooked_ai_py`` pulls in the old ``gym`` package, which prints a deprecation
notice to stderr; we silence it here, once. Only ``overcooked_ai_py.mdp.overcooked_mdp`` is
used: ``overcooked_env`` does not import under NumPy 2 and the planners write into
site-packages.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from functools import cache
from types import ModuleType


@cache
def mdp_module() -> ModuleType:
    """``overcooked_ai_py.mdp.overcooked_mdp``, imported without gym's stderr notice."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        from overcooked_ai_py.mdp import overcooked_mdp
    return overcooked_mdp


@cache
def layouts_dir() -> str:
    """The folder of ``*.layout`` files shipped with ``overcooked_ai_py``."""
    mdp_module()
    from overcooked_ai_py.static import LAYOUTS_DIR

    return LAYOUTS_DIR


@cache
def human_data_dir() -> str:
    """The folder holding the 2019 human-human trials (``clean_{train,test}_trials.pickle``)."""
    mdp_module()
    from overcooked_ai_py.static import HUMAN_DATA_DIR

    return HUMAN_DATA_DIR


def shipped_layout_names() -> list[str]:
    """Every layout file name shipped with ``overcooked_ai_py`` (without ``.layout``), sorted."""
    return sorted(f[: -len(".layout")] for f in os.listdir(layouts_dir()) if f.endswith(".layout"))


@contextlib.contextmanager
def preserved_recipe_config():
    """Restore the reference ``Recipe`` class configuration on exit.

    ``OvercookedGridworld`` configures ``Recipe`` globally (values, cook times) whenever one is
    built; building one to read a layout must not change what a user's own MDP computes.
    (If nothing was configured before, the new configuration stays: the reference cannot even
    build an ``OvercookedState`` with an unconfigured ``Recipe``.)
    """
    recipe = mdp_module().Recipe
    was_configured = recipe._configured
    conf = dict(recipe._conf) if was_configured else None
    try:
        yield
    finally:
        if was_configured:
            recipe.configure(conf)
