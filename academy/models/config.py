"""Model configs are small frozen dataclasses; ``from_dict`` is the gate a registry card passes through."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any


class ConfigError(ValueError):
    """A config dict does not match its architecture's dataclass."""


def config_from_dict(cls: type, data: Any) -> Any:
    """Build ``cls`` from plain JSON data, refusing unknown keys, wrong types and out-of-range values.

    Only JSON scalars and lists of them are accepted, so nothing in a card can smuggle in code.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"config must be a JSON object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - fields
    if unknown:
        raise ConfigError(f"unknown config keys {sorted(unknown)} for {cls.__name__}; allowed: {sorted(fields)}")
    values = {}
    for name, value in data.items():
        values[name] = _coerce(name, value, hints[name])
    config = cls(**values)
    check = getattr(config, "validate", None)
    if check is not None:
        check()
    return config


def _coerce(name: str, value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config {name!r} must be a list, got {type(value).__name__}")
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        return tuple(_coerce(name, v, item) for v in value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config {name!r} must be true/false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config {name!r} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"config {name!r} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"config {name!r} must be a string, got {value!r}")
        return value
    raise ConfigError(f"config {name!r} has an unsupported type {hint!r}")
