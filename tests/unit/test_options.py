"""Each option declared once (curate.core.options): the config field is the CLI option, the
pipeline key and its type check; sub-configs compose; validating a config loads no torch."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from curate.core import options
from curate.core.errors import InputError
from curate.core.options import inherit, option, pass_down, sub

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, kw_only=True)
class Inner:
    depth: int = option(3, help="How deep.", min=1, max=9)
    shared: bool = inherit(False)
    hidden: int = 5  # not an option: no CLI flag, no pipeline key


@dataclass(frozen=True, kw_only=True)
class Outer:
    dataset: str = "fer"
    progress: bool = True
    shared: bool = option(False, flags=("--shared",), help="One switch, two readers.")
    mode: str = option("a", help="A closed choice.", choices=("a", "b"))
    names: tuple[str, ...] = option(("x", "y"), help="Several names.")
    device: str = option("cpu", help="Where.", cli_default="auto",
                         convert=lambda d: "cpu" if d == "auto" else d)
    inner: Inner = sub(Inner)

    def __post_init__(self) -> None:
        pass_down(self)


def test_a_sub_config_is_composed_from_one_flat_mapping():
    cfg = options.build(Outer, {"depth": 7, "shared": True, "mode": "b"})
    assert (cfg.inner.depth, cfg.inner.shared, cfg.shared, cfg.mode) == (7, True, True, "b")
    assert options.keys(Outer) == ("shared", "mode", "names", "device", "depth")
    assert options.settings(cfg)["depth"] == 7
    assert Outer(shared=True).inner.shared  # built directly: the parent's value is passed down
    assert options.build(Outer, {"device": "auto"}).device == "cpu"  # given values convert
    assert Outer().device == "cpu"  # the library's default is not the command line's


def test_an_option_declared_twice_is_refused():
    @dataclass(frozen=True, kw_only=True)
    class Twice:
        depth: int = option(1, help="Again.")
        inner: Inner = sub(Inner)

    with pytest.raises(TypeError, match="'depth' declared twice"):
        options.flat_fields(Twice)


def _app() -> tuple[typer.Typer, list[Outer]]:
    seen: list[Outer] = []

    def run(ctx: typer.Context, cfg: Outer, loud: bool = False) -> None:
        """Do the thing."""
        seen.append(cfg)

    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context) -> None:
        from curate.core.clikit import State

        ctx.obj = State(dataset="mine", progress=False)

    loud = Annotated[bool, typer.Option("--loud")]
    app.command("go")(options.command(Outer, run, extra={"loud": (loud, False)}))
    return app, seen


def test_the_command_is_derived_from_the_config():
    app, seen = _app()
    out = CliRunner().invoke(app, ["go", "--help"], env={"COLUMNS": "300"}).output
    for text in ("Do the thing.", "--shared", "<a|b>", "How deep.", "[1<=x<=9]",
                 "Repeat or comma-separate (default: x,y)", "[default: auto]", "--loud"):
        assert text in out, text
    assert "--hidden" not in out and "--dataset" not in out
    r = CliRunner().invoke(app, ["go", "--depth", "4", "--names", "p,q", "--names", "r",
                                 "--mode", "b", "--shared"])
    assert r.exit_code == 0, r.output
    cfg = seen[-1]
    assert (cfg.inner.depth, cfg.names, cfg.mode, cfg.inner.shared) == (4, ("p", "q", "r"), "b",
                                                                         True)
    assert (cfg.dataset, cfg.progress, cfg.device) == ("mine", False, "cpu")  # globals injected
    assert CliRunner().invoke(app, ["go", "--depth", "0"]).exit_code == 2  # bounds


def test_pipeline_values_are_type_checked_by_the_option_type():
    flat = options.flat_fields(Outer)
    options.check_value("depth", 3, flat["depth"].hint, "p.toml: [x].")
    with pytest.raises(InputError, match=r"p.toml: \[x\].depth: must be a whole number"):
        options.check_value("depth", "three", flat["depth"].hint, "p.toml: [x].")
    with pytest.raises(InputError, match="names: must be a list of strings"):
        options.check_value("names", "x", flat["names"].hint, "")


def test_validating_every_stage_config_imports_no_torch():
    """The pipeline validates each stage's config before any stage runs: no training stack."""
    code = (
        "import sys\n"
        "from curate.core import options\n"
        "from curate.pipeline.config import STAGES\n"
        "minimal = {'ingest': {'source': 'folder', 'path': '.'}, 'balance': {'target': 5},\n"
        "           'export': {'view': 'raw', 'format': 'imagefolder'},\n"
        "           'synth': {'model': 'm', 'plan': 'balance'}, 'restore': {'method': 'lanczos'},\n"
        "           'compare': {'views': 'raw,curated'}}\n"
        "from pathlib import Path\n"
        "for name, spec in STAGES.items():\n"
        "    cls, _ = spec.load()\n"
        "    values = {k: Path(v) if k == 'path' else v\n"
        "              for k, v in minimal.get(name, {}).items()}\n"
        "    options.build(cls, values)\n"
        "print(sorted(m for m in ('torch', 'timm', 'diffusers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
