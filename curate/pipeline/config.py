"""The pipeline config file (TOML): one table per stage, keys = the stage's CLI flags.

```toml
dataset = "fer"                       # global options, as on the command line
workspace = "workspace/fer"           # optional; relative paths resolve against this file's folder
seed = 0                              # reaches every stage that takes a seed

[[ingest]]                            # one table per input
source = "fer2013"
path = "../../shared/datasets/fer2013/fer2013.csv.gz"

[clean]                               # `curate clean --checks ... --fast --dark-threshold 0.8`
checks = ["duplicates", "quality", "labels"]
fast = true
dark_threshold = 0.8                  # every threshold of the checks is a key (see below)

[restore]
method = "lanczos"
required = false                      # pipeline-only: a missing model (or, on an ingest, a missing
                                      # input) skips the stage (reported)
```
Each table's keys are the stage's options, declared once on its config dataclass
(`curate.core.options`), with `-` written as `_`: the same names as the CLI flags (`curate clean
--help` lists them). Unknown keys and values of the wrong type are errors when the file is read,
before any stage runs, and bad values when their stage starts; each names the key and what is
allowed.
"""

from __future__ import annotations

import importlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.core import options
from curate.core.errors import InputError

PIPELINE_KEYS = ("required",)  # keys the pipeline reads itself, not passed to the stage
GLOBAL_TYPES: dict[str, Any] = {"dataset": str, "workspace": Path, "seed": int}
GLOBAL_KEYS = tuple(GLOBAL_TYPES)


@dataclass(frozen=True)
class StageSpec:
    """Where a stage's config dataclass and entry function live; `many`: a list of tables."""

    name: str
    module: str
    config: str
    entry: str
    many: bool = False
    needs_model: bool = False
    command: str = ""  # the CLI command it corresponds to, for "commands to reproduce"
    batch_flags: str = ""  # flags a non-interactive run needs (the pipeline never prompts)

    def load(self) -> tuple[type, Any]:
        mod = importlib.import_module(self.module)
        return getattr(mod, self.config), getattr(mod, self.entry)


# The stages in flow order (docs/architecture.md). An explicit registry.
STAGES: dict[str, StageSpec] = {s.name: s for s in (
    StageSpec("ingest", "curate.ingest", "IngestConfig", "ingest", many=True,
              command="curate ingest {source} {path}"),
    StageSpec("clean", "curate.clean", "CleanConfig", "clean", command="curate clean"),
    StageSpec("apply", "curate.apply", "ApplyConfig", "apply_reviews", command="curate apply"),
    StageSpec("restore", "curate.restore.stage", "RestoreConfig", "restore", needs_model=True,
              command="curate restore"),
    StageSpec("synth", "augment.synth.stage", "SynthConfig", "synthesize", needs_model=True,
              command="augment synth"),
    StageSpec("balance", "curate.balance.stage", "BalanceStageConfig", "run_balance",
              command="curate balance", batch_flags="--yes"),
    StageSpec("export", "curate.export.exporter", "ExportConfig", "export", many=True,
              command="curate export"),
    StageSpec("compare", "train.compare", "CompareSettings", "run_compare",
              command="train compare"),
)}


@dataclass(frozen=True)
class StageEntry:
    spec: StageSpec
    settings: dict[str, Any]  # validated keys for the config dataclass, file values only
    required: bool = True


@dataclass(frozen=True)
class PipelineConfig:
    path: Path
    dataset: str
    workspace: Path | None
    seed: int
    stages: tuple[StageEntry, ...] = field(default_factory=tuple)

    def names(self) -> list[str]:
        return list(dict.fromkeys(e.spec.name for e in self.stages))


def _coerce(value: Any, hint: Any, base: Path) -> Any:
    text = str(hint)
    if "Path" in text and isinstance(value, str):
        p = Path(value).expanduser()
        return p if p.is_absolute() else (base / p).resolve()
    if "tuple" in text and isinstance(value, list):
        return tuple(value)
    return value


def _table(spec: StageSpec, table: dict[str, Any], base: Path, where: str) -> StageEntry:
    cls, _ = spec.load()
    flat = options.flat_fields(cls)
    allowed = options.keys(cls)
    settings: dict[str, Any] = {}
    for key, value in table.items():
        if key in PIPELINE_KEYS:
            continue
        if key not in allowed:
            raise InputError(f"{where}: unknown key {key!r}; allowed: "
                             f"{', '.join(sorted([*allowed, *PIPELINE_KEYS]))}")
        options.check_value(key, value, flat[key].hint, f"{where}.")
        settings[key] = _coerce(value, flat[key].hint, base)
    required = table.get("required", True)
    if not isinstance(required, bool):
        raise InputError(f"{where}.required: must be true or false, got {required!r}")
    return StageEntry(spec, settings, required)


def load_config(path: Path) -> PipelineConfig:
    """Parse and validate a pipeline file; errors name the file, the key and what is allowed."""
    if not path.is_file():
        raise InputError(f"{path}: no such pipeline config file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{path}: not valid TOML ({e})") from None
    base = path.resolve().parent
    unknown = [k for k in data if k not in STAGES and k not in GLOBAL_KEYS]
    if unknown:
        raise InputError(f"{path}: unknown key {unknown[0]!r}; allowed: "
                         f"{', '.join([*GLOBAL_KEYS, *STAGES])}")
    for key, hint in GLOBAL_TYPES.items():
        if key in data:
            options.check_value(key, data[key], hint, f"{path.name}: ")
    entries: list[StageEntry] = []
    for name, spec in STAGES.items():
        if name not in data:
            continue
        tables = data[name]
        if spec.many != isinstance(tables, list):
            shape = f"[[{name}]] tables" if spec.many else f"one [{name}] table"
            raise InputError(f"{path}: {name} must be {shape}")
        for i, table in enumerate(tables if spec.many else [tables]):
            where = f"{path.name}: {name}" + (f"[{i}]" if spec.many else "")
            entries.append(_table(spec, table, base, where))
    ws = data.get("workspace")
    return PipelineConfig(path=path.resolve(), dataset=str(data.get("dataset", "fer")),
                          workspace=(base / ws) if ws else None, seed=int(data.get("seed", 0)),
                          stages=tuple(entries))
