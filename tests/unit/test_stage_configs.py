"""The stages' shared conventions: keyword-only frozen configs, CLI choices generated from the
library's registries, and write errors that name their file."""

from __future__ import annotations

import dataclasses
import errno
import pickle
from pathlib import Path

import numpy as np
import pytest

from augment.synth.stage import SynthConfig
from curate.apply import ApplyConfig
from curate.balance.plan import AUGMENT_MODES, BalanceConfig
from curate.balance.stage import BalanceStageConfig
from curate.export.exporter import FORMATS, WRITERS, ExportConfig
from curate.ingest import IngestConfig, base
from curate.restore.stage import COLORS, METHODS, PRECISIONS, RestoreConfig
from train.compare import CompareSettings

CONFIGS = {
    IngestConfig: {"source": "folder", "path": Path(".")},
    ApplyConfig: {},
    RestoreConfig: {"method": "lanczos"},
    BalanceConfig: {"target": 5},
    BalanceStageConfig: {"balance": BalanceConfig(target=5)},
    ExportConfig: {"view": "raw", "format": "imagefolder"},
    SynthConfig: {"model": "m", "plan": "balance"},
    CompareSettings: {"views": "raw,curated"},
}


@pytest.mark.parametrize("cls", list(CONFIGS), ids=lambda c: c.__name__)
def test_configs_are_frozen_and_keyword_only(cls):
    cfg = cls(**CONFIGS[cls])
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.dataset = "other"  # type: ignore[misc]
    first = dataclasses.fields(cls)[0]
    with pytest.raises(TypeError):
        cls(getattr(cfg, first.name))  # positionally: refused


def test_cli_choices_are_the_registries():
    from typer.testing import CliRunner

    from curate.cli import app

    for command, names in (("restore", METHODS), ("restore", COLORS), ("restore", PRECISIONS),
                           ("export", FORMATS), ("balance", AUGMENT_MODES)):
        out = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "400"}).output
        assert f"<{'|'.join(names)}>" in out, (command, names)
    assert FORMATS == tuple(WRITERS) and "lanczos" in METHODS


def test_synth_and_compare_choices_are_the_registries():
    from typer.testing import CliRunner

    from augment.cli import app as augment_app
    from augment.synth.models import FAMILIES
    from augment.synth.stage import PLANS
    from train.cli import app as train_app
    from train.compare import PROFILES

    for app, command, names in ((augment_app, "synth", ("auto", *FAMILIES)),
                                (augment_app, "synth", PLANS), (train_app, "compare", PROFILES)):
        out = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "400"}).output
        assert f"<{'|'.join(names)}>" in out, (command, names)


def test_synth_model_comes_from_its_environment_variable():
    from typer.testing import CliRunner

    from augment.cli import app
    from augment.synth.stage import MODEL_ENV

    args = ["--no-progress", "synth", "--classes", "Fear", "--device", "cpu"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2 and "Missing option '--model'" in r.output
    r = CliRunner().invoke(app, args, env={MODEL_ENV: "some/model"})  # the env gives --model
    assert r.exit_code == 2 and "--classes needs --per-class N" in r.output


def test_a_failed_image_write_names_the_file(tmp_path, monkeypatch):
    def full(self, data):  # the disk is full: every file write fails, with no file name
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    c = base.Candidate("7", "train", "happy", "3", decode=lambda: np.zeros((4, 4), np.uint8))
    with pytest.raises(OSError) as e:
        base._materialize(c, source="fer2013", media=tmp_path)
    assert e.value.errno == errno.ENOSPC
    assert e.value.filename == str(tmp_path / "fer2013" / "000007.png")
    back = pickle.loads(pickle.dumps(e.value))  # as it comes back from a worker process
    assert (back.errno, back.filename) == (errno.ENOSPC, e.value.filename)


def test_a_bad_input_is_still_a_skip(tmp_path):
    def bad():
        raise ValueError("12 pixel values, expected 2304")

    c = base.Candidate("3", "train", "happy", "3", decode=bad, row=3, file="f.csv")
    assert base._materialize(c, source="fer2013", media=tmp_path) == \
        base.Skip("f.csv", 3, "12 pixel values, expected 2304")
