"""Errors meant for people.

Every error that a user can cause by bad input derives from :class:`XpmBenchError`; the CLI
prints its one-line message and exits with code 2. Each subclass also derives from the
built-in exception a Python caller would expect (``KeyError`` for unknown names,
``ValueError`` for bad values), so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class XpmBenchError(Exception):
    """Base class of all user-facing errors (CLI exit code 2)."""

    exit_code = 2

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class UnknownEnvError(XpmBenchError, KeyError):
    """An environment id, family or version that is not registered."""


class EnvArgumentError(XpmBenchError, TypeError):
    """A keyword argument that the environment does not accept, or a bad value for one."""


class ActionError(XpmBenchError, ValueError):
    """Actions of the wrong shape, dtype or range."""


class PopulationFileError(XpmBenchError, ValueError):
    """A population file that is missing, malformed, foreign or unsafe."""


class ConfigError(XpmBenchError, ValueError):
    """A bad configuration value, preset or method name."""


class LeaderboardError(XpmBenchError, ValueError):
    """A submission or board that is malformed, inconsistent or not accepted."""
