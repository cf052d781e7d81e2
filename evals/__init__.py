"""Offline, deterministic evaluation of agent runs.

trace.py (the JSONL trace format, evals/TRACE_FORMAT.md) · export.py (tasks → traces) ·
evaluators/ (one per file) · dataset.py (YAML scenarios) · runner.py (run a dataset or
judge trace files) · report*.py, plots.py (JSON, Markdown, HTML) · compare.py.
"""
