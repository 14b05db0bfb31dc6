"""Settings dataclasses checked against their own annotations.

The command line hands every setting over with the right type; Python callers may not (`vocab_size="1000"`,
`seed=1.5`, `p=True`). Each settings class's `validate` first checks its fields against their annotations,
so that a wrong type is one `ParameterError` naming the field instead of a failure deep inside a library,
or a value silently read as another (a float seed truncated, a bool taken for 1).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from tokwork.errors import ParameterError


def check_setting_types(settings: object) -> None:
    """Raise `ParameterError` for the first field of the dataclass `settings` whose value does not have
    its annotated type (an integer is never a bool; a float setting takes any real number). Values of the
    right kind but not Python's own (numpy numbers, a Path where a string is wanted) are made plain in
    place, so that cards, JSON and range checks take them as they take Python's."""
    try:
        hints = typing.get_type_hints(type(settings))
    except (NameError, TypeError):  # an annotation that cannot be resolved is not checked
        return
    for field in dataclasses.fields(settings):
        if not field.init or field.name not in hints:
            continue
        value, wanted = getattr(settings, field.name), hints[field.name]
        if not _matches(value, wanted):
            raise ParameterError(f"{type(settings).__name__}.{field.name} must be {_describe(wanted)}, "
                                 f"not {value!r}")
        plain = value if "Path" in str(wanted) else plain_value(value)  # a Path setting keeps its Paths
        if plain is not value:
            object.__setattr__(settings, field.name, plain)


def plain_value(value: object) -> object:
    """`value` with numpy numbers as Python's and paths as strings (lists, tuples and mappings through);
    `value` itself where nothing changes."""
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, list | tuple):
        items = [plain_value(v) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else type(value)(items)
    if isinstance(value, dict):
        items = {plain_value(k): plain_value(v) for k, v in value.items()}
        return value if all(a is b for a, b in zip(items.values(), value.values(), strict=True)) \
            and all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


def _is_integer(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _matches(value: object, wanted: object) -> bool:
    origin, arguments = typing.get_origin(wanted), typing.get_args(wanted)
    if wanted is typing.Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arm) for arm in arguments)
    if wanted is type(None):
        return value is None
    if wanted is bool:
        return isinstance(value, bool | np.bool_)
    if wanted is int:
        return _is_integer(value)
    if wanted is float:
        return _is_integer(value) or isinstance(value, float | np.floating)
    if wanted is str or wanted is Path:  # a path may name a file where a string setting does
        return isinstance(value, str | os.PathLike)
    if origin is typing.Literal:
        return value in arguments
    if origin in (list, tuple, Sequence):
        if isinstance(value, str) or not isinstance(value, list | tuple):
            return False
        item = arguments[0] if arguments else typing.Any
        return item is Ellipsis or all(_matches(v, item) for v in value)
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            return False
        key, item = arguments if len(arguments) == 2 else (typing.Any, typing.Any)
        return all(_matches(k, key) and _matches(v, item) for k, v in value.items())
    if isinstance(wanted, type):
        return isinstance(value, wanted)
    return True  # a form these checks do not know


def _describe(wanted: object) -> str:
    origin, arguments = typing.get_origin(wanted), typing.get_args(wanted)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arm) for arm in arguments)
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, arguments))
    if origin in (list, tuple, Sequence):
        return f"a list of {_plural(arguments[0]) if arguments else 'values'}"
    if origin in (dict, Mapping):
        return "a mapping" + (f" of {_plural(arguments[0])} to {_plural(arguments[1])}" if arguments else "")
    names = {type(None): "None", bool: "True or False", int: "an integer", float: "a number", str: "a string",
             Path: "a path"}
    return names.get(wanted, getattr(wanted, "__name__", str(wanted)))


def _plural(wanted: object) -> str:
    names = {bool: "booleans", int: "integers", float: "numbers", str: "strings", Path: "paths"}
    return names.get(wanted, _describe(wanted))
