"""Every pipeline key is the name of its stage's CLI option (issue 7): `--max-synthetic` is
`max_synthetic`, a boolean `--undersample/--no-undersample` is `undersample`."""

from __future__ import annotations

import dataclasses

import pytest
import typer

from curate.pipeline.config import INJECTED, STAGES

# Config fields filled from the command line in another way (an argument, not an option).
ARGUMENTS = {"ingest": {"source", "path"}}


def _command(spec):  # noqa: ANN001, ANN202 - a StageSpec -> a click command
    words = spec.command.split()
    if words[0] == "curate":
        from curate.cli import app
    elif words[0] == "augment":
        from augment.cli import app
    else:
        from train.cli import app
    cmd = typer.main.get_command(app)
    for w in words[1:]:
        if w.startswith("{"):
            break
        cmd = cmd.commands[w]  # type: ignore[attr-defined]
    return cmd


def _flags(cmd) -> set[str]:  # noqa: ANN001 - a click command or group
    if hasattr(cmd, "commands"):  # ingest: a group, one subcommand per source
        return set.union(*(_flags(c) for c in cmd.commands.values()))
    out = set()
    for p in cmd.params:
        for opt in [*p.opts, *p.secondary_opts]:
            if opt.startswith("--") and not opt.startswith("--no-"):
                out.add(opt[2:].replace("-", "_"))
    return out


@pytest.mark.parametrize("name", list(STAGES))
def test_config_keys_are_cli_flags(name):
    spec = STAGES[name]
    cls, _ = spec.load()
    keys = {f.name for f in dataclasses.fields(cls)} - set(INJECTED) - ARGUMENTS.get(name, set())
    missing = keys - _flags(_command(spec))
    assert not missing, f"{name}: config keys without a same-named CLI option: {sorted(missing)}"


@pytest.mark.parametrize("name", ["fer2013-cpu.toml", "fer2013.toml"])
def test_shipped_pipeline_configs_are_valid(name):
    from pathlib import Path

    from curate.pipeline.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[2] / "pipelines" / name)
    assert cfg.names()[0] == "ingest" and cfg.names()[-1] == "compare"
