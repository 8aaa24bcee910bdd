"""The evaluator: cross-play runs, population metrics and holdout partner sets."""
