"""The submission format, as a JSON Schema, and a validator with one-line errors.

A submission (``submission.json`` in its entry folder) is::

    {
      "submission_format_version": 1,
      "id": "sp-m8-3f2a9c1b",                  # the entry folder's name
      "metadata": {
        "method": "sp",
        "description": "one line",
        "authors": null,                        # or a string
        "xpm_bench_version": "0.1.0",           # the installation that submitted it
        "generation_command": "xpm-bench generate --method sp ...",
        "evaluation_command": "xpm-bench evaluate population.pt --protocol default ...",
        "resubmitted_from": null                # or "ENV/BOARD/ID" (re-evaluated entry)
      },
      "population": {"sha256": "sha256:<hex>", "size_bytes": 123, "file": "population.pt"},
      "result": { ... the evaluator's result JSON, unchanged ... }
    }

``population`` names the file beside ``submission.json`` (``file``) or, for a large one, a
``url`` (``https://...``, ``file://...``) to fetch it from; either way the hash pins it.
The schema checks structure and types; :mod:`xpm_bench.leaderboard.checks` checks that the
parts agree (hashes, versions, board).
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from xpm_bench.errors import LeaderboardError

SUBMISSION_FORMAT_VERSION = 1
SUPPORTED_SUBMISSION_VERSIONS = (1,)
SUPPORTED_RESULT_VERSIONS = (1, 2)

_HASH = {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"}
_NUMBER_OR_NULL = {"type": ["number", "null"]}
_CI = {"type": "array", "items": _NUMBER_OR_NULL, "minItems": 2, "maxItems": 2}
_VALUE_CI = {
    "type": "object",
    "required": ["value", "ci"],
    "properties": {"value": _NUMBER_OR_NULL, "ci": {"anyOf": [_CI, {"type": "null"}]}},
}
_MATRIX = {"type": "array", "minItems": 1, "items": {"type": "array", "items": _NUMBER_OR_NULL}}

RESULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "result_format_version",
        "xpm_bench_version",
        "env_id",
        "population",
        "protocol",
        "holdout",
        "xp_matrix",
        "metrics",
        "sample_cost",
        "ego",
    ],
    "properties": {
        "result_format_version": {"type": "integer"},
        "xpm_bench_version": {"type": "string"},
        "env_id": {"type": "string", "pattern": "^[A-Za-z0-9]+(-[A-Za-z0-9]+)*-v[0-9]+$"},
        "env_kwargs": {"type": "object"},
        "population": {
            "type": "object",
            "required": ["hash", "method", "pop_size", "member_names"],
            "properties": {
                "hash": _HASH,
                "method": {"type": "string", "minLength": 1},
                "pop_size": {"type": "integer", "minimum": 1},
                "member_names": {"type": "array", "items": {"type": "string"}},
            },
        },
        "protocol": {
            "type": "object",
            "required": ["name", "version", "episodes", "seed"],
            "properties": {
                "name": {"type": "string", "pattern": "^[A-Za-z0-9_]+$"},
                "version": {"type": "integer", "minimum": 0},
                "episodes": {"type": "integer", "minimum": 1},
                "seed": {"type": "integer", "minimum": 0},
            },
        },
        "holdout": {
            "type": "object",
            "required": ["name", "version", "hash", "partners"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "integer"},
                "hash": _HASH,
                "partners": {"type": "array", "items": {"type": "string"}},
            },
        },
        "xp_matrix": _MATRIX,
        "metrics": {
            "type": "object",
            "required": ["sp_mean", "xp_mean"],
            "properties": {"sp_mean": _VALUE_CI, "xp_mean": _VALUE_CI},
        },
        "sample_cost": {
            "anyOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["env_steps", "imagined_steps", "wall_clock_s"],
                    "properties": {
                        "env_steps": {"type": "integer", "minimum": 0},
                        "imagined_steps": {"type": "integer", "minimum": 0},
                        "wall_clock_s": {"type": "number", "minimum": 0},
                    },
                },
            ]
        },
        "ego": {
            "anyOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["train_env_steps", "mean_return", "per_partner"],
                    "properties": {
                        "train_env_steps": {"type": "integer", "minimum": 0},
                        "mean_return": {"type": "number"},
                        "per_partner": {"type": "object"},
                    },
                },
            ]
        },
    },
}

SUBMISSION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "xpm-bench leaderboard submission",
    "type": "object",
    "required": ["submission_format_version", "id", "metadata", "population", "result"],
    "additionalProperties": False,
    "properties": {
        "submission_format_version": {"type": "integer"},
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,79}$"},
        "metadata": {
            "type": "object",
            "required": [
                "method",
                "description",
                "authors",
                "xpm_bench_version",
                "generation_command",
                "evaluation_command",
            ],
            "additionalProperties": False,
            "properties": {
                "method": {"type": "string", "minLength": 1},
                "description": {"type": "string", "minLength": 1, "pattern": "^[^\\n]*$"},
                "authors": {"type": ["string", "null"]},
                "xpm_bench_version": {"type": "string"},
                "generation_command": {"type": "string", "minLength": 1},
                "evaluation_command": {"type": "string", "minLength": 1},
                "resubmitted_from": {"type": ["string", "null"]},
            },
        },
        "population": {
            "type": "object",
            "required": ["sha256", "size_bytes"],
            "additionalProperties": False,
            "properties": {
                "sha256": _HASH,
                "size_bytes": {"type": "integer", "minimum": 1},
                "file": {"type": "string", "pattern": "^[A-Za-z0-9._-]+$"},
                "url": {"type": "string", "pattern": "^(https?|file)://"},
            },
            "oneOf": [{"required": ["file"]}, {"required": ["url"]}],
        },
        "result": RESULT_SCHEMA,
    },
}

_SUBMISSION_VALIDATOR = Draft202012Validator(SUBMISSION_SCHEMA)
_RESULT_VALIDATOR = Draft202012Validator(RESULT_SCHEMA)


def validate_result(data: Any, where: str = "result") -> None:
    """Raise :class:`LeaderboardError` naming the first problem of an evaluator result."""
    _validate(_RESULT_VALIDATOR, data, where)
    version = data["result_format_version"]
    if version not in SUPPORTED_RESULT_VERSIONS:
        raise LeaderboardError(
            f"{where}: result_format_version {version} is not supported "
            f"(accepted: {', '.join(map(str, SUPPORTED_RESULT_VERSIONS))})"
        )


def validate_submission(data: Any, where: str = "submission") -> None:
    """Raise :class:`LeaderboardError` naming the first problem of a submission."""
    _validate(_SUBMISSION_VALIDATOR, data, where)
    version = data["submission_format_version"]
    if version not in SUPPORTED_SUBMISSION_VERSIONS:
        raise LeaderboardError(
            f"{where}: submission_format_version {version} is not supported "
            f"(accepted: {', '.join(map(str, SUPPORTED_SUBMISSION_VERSIONS))})"
        )
    validate_result(data["result"], f"{where}: result")


def _validate(validator: Draft202012Validator, data: Any, where: str) -> None:
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        raise LeaderboardError(f"{where} is malformed: {describe(errors[0])}")


def describe(error: ValidationError) -> str:
    """One short line for a schema error: the field's path and what it should be."""
    path = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    kind, expected = error.validator, error.validator_value
    if kind == "required":
        return error.message.replace(" is a required property", f" is missing at {path}")
    if kind == "type":
        return f"{path} must be of type {_or(expected)}, got {_brief(error.instance)}"
    if kind == "pattern":
        return f"{path} must match {expected!r}, got {_brief(error.instance)}"
    if kind in ("anyOf", "oneOf"):
        return f"{path} does not have any accepted form ({_brief(error.instance)})"
    return f"{path}: {_truncate(error.message, 160)}"


def _or(expected: Any) -> str:
    return " or ".join(expected) if isinstance(expected, list) else str(expected)


def _brief(value: Any) -> str:
    return _truncate(repr(value), 60)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
