"""YAML as the project reads it: the safe loader (no Python objects, whatever the file says),
LibYAML's C implementation when PyYAML was built with it (about 10x faster on the task files, which
every run parses)."""

from __future__ import annotations

from typing import Any

import yaml

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """The document in `text` as plain Python data; raises yaml.YAMLError on bad YAML."""
    return yaml.load(text, Loader=_LOADER)
