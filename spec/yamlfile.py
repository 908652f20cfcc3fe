"""YAML documents validated into pydantic models, with one message naming file, key and reason.

Shared by the target specifications (this package) and the energy tables (:mod:`sim.energy`):
:func:`load_yaml` reads a file with a loader that refuses duplicate keys, :func:`validate`
turns the first pydantic problem into a :class:`~core.errors.UserError` ``"<file>: <key>: <reason>"``.
A rule checked after the schema (a design rule, a missing energy entry) raises
:class:`SpecProblem` with its key, and the caller names the file.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from core.errors import UserError

Model = TypeVar("Model", bound=BaseModel)


class SpecProblem(ValueError):
    """A rule a document breaks: ``key`` (dotted path in the file) and ``reason``."""

    def __init__(self, key: str, reason: str):
        super().__init__(f"{key}: {reason}")
        self.key, self.reason = key, reason


def location(loc: tuple) -> str:
    """A pydantic error location as the dotted key of the file (``compute.rows``)."""
    return ".".join(str(p) for p in loc if not str(p).startswith("function-")) or "(top level)"


def reason(error: dict) -> str:
    """A pydantic error's message in the words the files' users know."""
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "missing field"
    return error["msg"].removeprefix("Value error, ")


def first_problem(exc: ValidationError, prefix: str = "") -> SpecProblem:
    """The first problem of ``exc`` (keys under ``prefix``), counting the others; an unknown key
    comes first (a misspelt key also makes the right one missing)."""
    errors = exc.errors()
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
    key = location(first["loc"])
    if prefix:
        key = prefix if key == "(top level)" else f"{prefix}.{key}"
    return SpecProblem(key, reason(first) + more)


def validate(model: type[Model], doc: object, source: str) -> Model:
    """``doc`` as ``model``; a :class:`UserError` naming ``source``, the key and the reason."""
    if not isinstance(doc, dict):
        raise UserError(f"{source}: expected a mapping of keys, got {type(doc).__name__}")
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        problem = first_problem(exc)
        raise UserError(f"{source}: {problem.key}: {problem.reason}") from None


class _DuplicateKey(yaml.YAMLError):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects a key given twice in one mapping (YAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        lines: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # keys merged by `<<: *base` may be overridden
                continue
            key, line = self.construct_object(key_node, deep=True), key_node.start_mark.line + 1
            if not isinstance(key, Hashable):  # SafeLoader reports it
                continue
            if key in lines:
                raise _DuplicateKey(f"line {line}: duplicate key {key!r} (first given on line {lines[key]})")
            lines[key] = line
        return super().construct_mapping(node, deep)


def load_yaml(path: Path) -> object:
    """The YAML document in ``path`` (safe loader, no duplicate keys); problems are
    :class:`UserError` s naming the file."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except FileNotFoundError:
        raise UserError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
    except _DuplicateKey as exc:
        raise UserError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path} is not valid YAML: {exc}") from None
