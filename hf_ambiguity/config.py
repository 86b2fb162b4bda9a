"""One configuration system for every command: frozen dataclasses as the schema, checked key by key.

A config is a (possibly nested) frozen dataclass whose field annotations are the schema: ``Literal`` choices,
``int`` / ``float`` / ``str`` / ``bool``, ``X | None``, tuples (YAML lists) and nested dataclasses (sections).
:func:`build_config` turns a parsed mapping (YAML, JSON, a dict) into that dataclass; unknown keys, wrong types and
invalid choices raise :class:`~hf_ambiguity.errors.ConfigError` naming the source, the dotted key, the value received
and the valid keys or choices, so a typo never falls back to a default silently. The pipeline
(:mod:`hf_ambiguity.pipeline.config`) and the simulation study (:mod:`hf_ambiguity.simulate.config`) are built on it;
training options are one dataclass whose command-line parser is generated from the same annotations
(:mod:`hf_ambiguity.training.config`).

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Example:
...     mode: Literal["a", "b"] = "a"
...     size: int = 1
>>> build_config(Example, {"size": 3})
Example(mode='a', size=3)
>>> build_config(Example, {"mode": "c"}, where="x.yaml")
Traceback (most recent call last):
...
hf_ambiguity.errors.ConfigError: x.yaml: mode must be one of ['a', 'b'], got 'c'
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping

from hf_ambiguity.errors import ConfigError

__all__ = ["build_config", "config_to_dict", "read_yaml_mapping", "ConfigError"]


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + str(list(typing.get_args(tp)))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        k, v = typing.get_args(tp)
        return f"mapping of {_type_name(k)} to {_type_name(v)}"
    return "null" if tp is type(None) else getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it converted (lists → tuples, ints → floats)."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(f"{where}: {key} must be one of {list(choices)}, got {value!r}", key=key)
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{where}: {key} must be {_type_name(tp)}, got {value!r}", key=key)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: {key} must be a mapping, got {value!r}", key=key)
        ktp, vtp = typing.get_args(tp)
        return {_coerce(k, ktp, f"{key} key", where): _coerce(v, vtp, f"{key}.{k}", where) for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: {key} must be a list, got {value!r}", key=key)
        (item_tp, *_rest) = typing.get_args(tp)
        return tuple(_coerce(v, item_tp, f"{key}[{i}]", where) for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {key} must be true or false, got {value!r}", key=key)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: {key} must be an integer, got {value!r}", key=key)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: {key} must be a number, got {value!r}", key=key)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {key} must be a string, got {value!r}", key=key)
        return value
    raise TypeError(f"unsupported annotation {tp!r} for {key}")  # a bug in this module, not user input


def _build(cls: type, data: Any, prefix: str, where: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: {prefix or 'the config'} must be a mapping of keys to values, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in fields]
    if unknown:
        dotted = f"{prefix}.{unknown[0]}" if prefix else str(unknown[0])
        raise ConfigError(f"{where}: unknown key {dotted!r}; valid keys: {', '.join(sorted(fields))}", key=dotted)
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value, key, where)
        else:
            kwargs[name] = _coerce(value, tp, key, where)
    return cls(**kwargs)


def build_config(cls: type, data: Any, *, where: str = "<dict>", prefix: str = "") -> Any:
    """Validate a parsed mapping into the frozen dataclass ``cls`` (``where`` names the source in errors;
    ``prefix`` is the dotted key of ``data`` inside a larger config)."""
    return _build(cls, data, prefix, where)


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file (``{}`` for an empty file); a clear :class:`ConfigError` otherwise."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the config file ({exc.strerror or exc})") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{p}: the config must be a mapping of keys to values, got {data!r}")
    return dict(data)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A plain, JSON/YAML-serialisable dict of a config (tuples become lists)."""
    def plain(v: Any) -> Any:
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return plain(dataclasses.asdict(cfg))
