"""Every pipeline key is the name of its stage's CLI option (issue 7): `--max-synthetic` is
`max_synthetic`, a boolean `--undersample/--no-undersample` is `undersample`."""

from __future__ import annotations

import pytest
import typer

from curate.core import options
from curate.pipeline.config import STAGES

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
    keys = set(options.keys(cls)) - ARGUMENTS.get(name, set())
    assert keys, f"{name}: its config declares no option"
    missing = keys - _flags(_command(spec))
    assert not missing, f"{name}: config keys without a same-named CLI option: {sorted(missing)}"


@pytest.mark.parametrize("name", ["fer2013-cpu.toml", "fer2013.toml"])
def test_shipped_pipeline_configs_are_valid(name):
    from pathlib import Path

    from curate.pipeline.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[2] / "pipelines" / name)
    assert cfg.names()[0] == "ingest" and cfg.names()[-1] == "compare"


def test_clean_thresholds_are_pipeline_keys_that_reach_the_checks(tmp_path):
    from curate.core.errors import InputError
    from curate.pipeline import _build
    from curate.pipeline.config import load_config

    path = tmp_path / "p.toml"
    path.write_text('[clean]\nfast = true\ndark_threshold = 0.9\nfast_face_entropy = 5.0\n'
                    'outlier_threshold = 0.2\nfilter_by = "both"\nradius = 2\n')
    cfg = load_config(path)
    clean = _build(cfg.stages[0], cfg, progress=False)
    q = clean.quality
    assert (q.dark_threshold, q.entropy_gate, clean.duplicates.radius) == (0.9, 5.0, 2)
    lab = clean.labels
    assert (lab.outlier_threshold, lab.filter_by) == (0.2, "both")
    path.write_text("[clean]\nblurry_threshold = 2.0\n")
    with pytest.raises(InputError, match="--blurry-threshold 2.0"):
        _build(load_config(path).stages[0], load_config(path), progress=False)


@pytest.mark.parametrize("text, message", [
    ('[clean]\nfolds = "three"\n', "p.toml: clean.folds: must be a whole number, got 'three'"),
    ('[clean]\nfast = 1\n', "clean.fast: must be true or false, got 1"),
    ('[clean]\nchecks = "labels"\n', "clean.checks: must be a list of strings, got 'labels'"),
    ('[clean]\nknn = 2.5\n', "clean.knn: must be a whole number, got 2.5"),
    ('[[export]]\nview = "raw"\nout = 3\n', "export[0].out: must be a path (string), got 3"),
    ('seed = "x"\n', "p.toml: seed: must be a whole number, got 'x'"),
])
def test_a_value_of_the_wrong_type_is_refused_before_any_stage_runs(tmp_path, text, message):
    """Types are checked when the file is read: a typo must not surface as a TypeError an
    hour into the run, after the stages before it."""
    from curate.core.errors import InputError
    from curate.pipeline.config import load_config

    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(InputError) as e:
        load_config(path)
    assert message in str(e.value)


def test_values_of_the_right_type_pass(tmp_path):
    from curate.pipeline.config import load_config

    path = tmp_path / "p.toml"
    path.write_text('seed = 3\n[clean]\ntarget_precision = 1\nfolds = 4\ndevice = "cpu"\n'
                    'checks = ["labels"]\n[[export]]\nview = "raw"\nout = "x"\n')
    cfg = load_config(path)
    assert cfg.seed == 3 and cfg.stages[0].settings["checks"] == ("labels",)
