"""Each option declared once: a stage's frozen config dataclass is the one place of its options.

A config field declared with `option(...)` carries its help, bounds, flags and closed choices;
from it come the stage's CLI command (`command`), its pipeline keys and their type checks
(`flat_fields`, curate.pipeline.config) and the config itself (`build`). A sub-stage's config is
a field of the stage's config (`sub`): its options are the stage's too, under their own names,
and it is built from the same flat mapping, not copied field by field. A sub-config field that
takes the parent's value of the same name is declared with `inherit` (one option, several
readers). As litgpt derives its CLI from its dataclasses (litgpt/args.py), with public Typer only.

This module imports no torch: validating a config never loads a training stack.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from curate.core.errors import InputError

# Filled from the global options (`--dataset`, `--workspace`, `--progress`), never a stage option.
INJECTED = ("dataset", "workspace", "progress")
_SAME = object()


@dataclass(frozen=True)
class Spec:
    """How one config field appears as an option (see `option`)."""

    help: str
    flags: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None
    cli_default: Any = _SAME
    convert: Callable[[Any], Any] | None = None
    argument: bool = False
    envvar: str | None = None

    def closed(self) -> tuple[str, ...] | None:
        return self.choices() if callable(self.choices) else self.choices


def option(default: Any = MISSING, *, help: str, flags: tuple[str, ...] = (),  # noqa: A002
           min: float | None = None, max: float | None = None,  # noqa: A002
           choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None,
           cli_default: Any = _SAME, convert: Callable[[Any], Any] | None = None,
           factory: Callable[[], Any] | None = None, argument: bool = False,
           envvar: str | None = None) -> Any:
    """A config field that is a CLI option and a pipeline key.

    `flags` replaces the default `--field-name`; `choices` makes a closed choice (a tuple, or a
    function returning one, read when the command is built); `cli_default` is the command
    line's default where it differs from the library's (e.g. `--device auto`); `convert` maps a
    value given on the command line or in a pipeline file (e.g. auto -> cuda / cpu); `envvar`:
    an environment variable the command line reads when the option is not given.
    """
    spec = Spec(help, flags, min, max, choices, cli_default, convert, argument, envvar)
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata={"option": spec})
    return dataclasses.field(default=default, metadata={"option": spec})


def inherit(default: Any) -> Any:
    """A sub-config field filled from the parent config's option of the same name."""
    return dataclasses.field(default=default, metadata={"inherit": True})


def sub(cls: type) -> Any:
    """A sub-stage's config as a field: its options join the parent's."""
    return dataclasses.field(default_factory=cls, metadata={"sub": True})


def pass_down(cfg: Any) -> None:
    """Give each sub-config the parent's values of its `inherit` fields (call it first in the
    parent's `__post_init__`), so a config built directly agrees with one built by `build`."""
    for f in dataclasses.fields(cfg):
        if not f.metadata.get("sub"):
            continue
        child = getattr(cfg, f.name)
        shared = {c.name: getattr(cfg, c.name) for c in dataclasses.fields(child)
                  if c.metadata.get("inherit") and hasattr(cfg, c.name)}
        if any(getattr(child, k) != v for k, v in shared.items()):
            object.__setattr__(cfg, f.name, dataclasses.replace(child, **shared))


@dataclass(frozen=True)
class Flat:
    """One option of a config tree: its name, its spec, its type and its default."""

    name: str
    spec: Spec
    hint: Any
    default: Any


def _default(f: dataclasses.Field) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


@functools.cache
def flat_fields(cls: type) -> dict[str, Flat]:
    """Every option of `cls` and its sub-configs, by name (a name is declared once)."""
    hints = typing.get_type_hints(cls)
    out: dict[str, Flat] = {}
    for f in dataclasses.fields(cls):
        if f.metadata.get("sub"):
            inner = flat_fields(hints[f.name])
            clash = set(inner) & set(out)
            if clash:
                raise TypeError(f"{cls.__name__}: option {sorted(clash)[0]!r} declared twice")
            out.update(inner)
        elif "option" in f.metadata:
            if f.name in out:
                raise TypeError(f"{cls.__name__}: option {f.name!r} declared twice")
            out[f.name] = Flat(f.name, f.metadata["option"], hints[f.name], _default(f))
    return out


def accepts(cls: type) -> set[str]:
    """Every name `build` fills: the options and `cls`'s own fields (e.g. the injected ones)."""
    return set(flat_fields(cls)) | {f.name for f in dataclasses.fields(cls) if f.init}


def keys(cls: type) -> tuple[str, ...]:
    """The settings a user gives (CLI options = pipeline keys), without the injected ones."""
    return tuple(k for k in flat_fields(cls) if k not in INJECTED)


def build(cls: type, values: Mapping[str, Any]) -> Any:
    """`cls` from one flat mapping of option values: each field, and each sub-config's, takes
    its value by name (absent: its default); `convert` applies to the values given."""
    flat = flat_fields(cls)
    given = dict(values)
    for key, value in values.items():
        convert = flat[key].spec.convert if key in flat else None
        if convert is not None:
            given[key] = convert(value)
    return _compose(cls, given)


def _compose(cls: type, given: Mapping[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.metadata.get("sub"):
            kwargs[f.name] = _compose(hints[f.name], given)
        elif f.name in given and f.init:
            kwargs[f.name] = given[f.name]
    return cls(**kwargs)


def settings(cfg: Any) -> dict[str, Any]:
    """A config's option values as one flat mapping (what a run records)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.metadata.get("sub"):
            out.update(settings(value))
        elif "option" in f.metadata:
            out[f.name] = value
    return out


# --- the command line ------------------------------------------------------------------------

def _optional(hint: Any) -> tuple[Any, bool]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(hint))
    return hint, False


def _is_tuple(hint: Any) -> bool:
    return typing.get_origin(_optional(hint)[0]) is tuple


def _cli_type(flat: Flat) -> tuple[Any, Any]:
    """(annotation type, CLI default) of one option."""
    base, optional = _optional(flat.hint)
    default = flat.default if flat.spec.cli_default is _SAME else flat.spec.cli_default
    choices = flat.spec.closed()
    if _is_tuple(flat.hint):
        return list[str] | None, None  # repeat or comma-separate; None: the config's default
    if choices is not None:
        enum = Enum(flat.name.title().replace("_", ""), {c: c for c in choices}, type=str)  # type: ignore[misc]
        ann: Any = enum | None if optional else enum
        return ann, (enum(default) if default is not None else None)
    return (base | None if optional else base), default


def _help(flat: Flat) -> str:
    if not _is_tuple(flat.hint):
        return flat.spec.help
    choices = flat.spec.closed()
    among = f" from {', '.join(choices)}" if choices else ""
    default = f" (default: {','.join(flat.default)})" if flat.default else ""
    return f"{flat.spec.help} Repeat or comma-separate{among}{default}."


def _parameter(flat: Flat) -> inspect.Parameter:
    ann, default = _cli_type(flat)
    spec = flat.spec
    if spec.argument:
        info: Any = typer.Argument(help=spec.help)
    else:
        info = typer.Option(*spec.flags, help=_help(flat), min=spec.min, max=spec.max,
                            envvar=spec.envvar)
    kind = inspect.Parameter.KEYWORD_ONLY
    if default is MISSING:
        return inspect.Parameter(flat.name, kind, annotation=Annotated[ann, info])
    return inspect.Parameter(flat.name, kind, annotation=Annotated[ann, info], default=default)


def _from_cli(flat: Flat, value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if _is_tuple(flat.hint):
        if not value:
            return flat.default
        return tuple(s.strip() for v in value for s in str(v).split(",") if s.strip())
    return value


def command(cls: type, run: Callable[..., None], *, fixed: Mapping[str, Any] | None = None,
            exclude: tuple[str, ...] = (),
            extra: Mapping[str, tuple[Any, Any]] | None = None) -> Callable[..., None]:
    """A Typer command whose options are `cls`'s (its docstring: `run`'s).

    The command builds the config from the options and the global ones (dataset, workspace,
    progress), inside the CLI's error handling, and calls `run(ctx, cfg, **extra)`. `fixed`: settings
    the command sets itself (not options); `exclude`: options this command does not offer;
    `extra`: name -> (Annotated type, default) of command-line-only switches passed to `run`.
    """
    from curate.core.clikit import state
    from curate.core.errors import cli_errors

    fixed, extra = dict(fixed or {}), dict(extra or {})
    flats = {k: v for k, v in flat_fields(cls).items()
             if k not in INJECTED and k not in fixed and k not in exclude}

    def cmd(ctx: typer.Context, **kwargs: Any) -> None:
        st = state(ctx)
        switches = {k: kwargs.pop(k) for k in extra}
        values = {k: _from_cli(flats[k], v) for k, v in kwargs.items()}
        names = accepts(cls)
        glob = {"dataset": st.dataset, "workspace": st.workspace, "progress": st.progress}
        values.update({k: v for k, v in glob.items() if k in names}, **fixed)
        with cli_errors(st.verbose):
            cfg = build(cls, values)
        run(ctx, cfg, **switches)

    params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                annotation=typer.Context)]
    params += [_parameter(f) for f in flats.values()]
    params += [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, annotation=ann, default=d)
               for k, (ann, d) in extra.items()]
    cmd.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    cmd.__annotations__ = {p.name: p.annotation for p in params}
    cmd.__doc__ = run.__doc__
    cmd.__name__ = run.__name__.strip("_")
    return cmd


def check_value(name: str, value: Any, hint: Any, where: str) -> None:
    """A one-line error (`where` + name) when a pipeline file's value does not fit the type."""
    if not _type_ok(value, hint):
        raise InputError(f"{where}{name}: must be {_type_name(hint)}, got {value!r}")


def _type_ok(value: Any, hint: Any) -> bool:
    """Whether a TOML value fits an option's type (bool, int, float, str, Path, tuple[str, ...],
    each optionally `| None`); a type this does not know passes, for the config to validate."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str or hint is Path:
        return isinstance(value, str | Path)
    if typing.get_origin(hint) is tuple:
        inner = typing.get_args(hint)[:1]
        return isinstance(value, list | tuple) and all(_type_ok(v, *inner) for v in value)
    return True


def _type_name(hint: Any) -> str:
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a string",
             Path: "a path (string)", type(None): "absent"}
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return " or ".join(_type_name(h) for h in typing.get_args(hint) if h is not type(None))
    if typing.get_origin(hint) is tuple:
        return "a list of strings"
    return names.get(hint, str(hint))
