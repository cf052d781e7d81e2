"""Reading the YAML files people write (agent specs, scripts, datasets, settings), with
errors that name the file and say what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from stack.errors import ConfigError


def load_yaml_file(path: Path, what: str) -> Any:
    """The parsed content of `path`; `what` names the kind of file in error messages."""
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path} is not valid YAML: {exc}") from None
