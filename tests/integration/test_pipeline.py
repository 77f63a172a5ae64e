"""`curate pipeline` end to end on a small generated dataset with tiny settings: every stage
through the CLI; an interrupted-then-resumed run ends with the same exports and report (all but
this run's log) as an uninterrupted one; a second run is a no-op."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest
from fixtures import fer_rows, write_fer_csv
from typer.testing import CliRunner

from curate.cli import app
from curate.core import store
from curate.ingest import base
from curate.pipeline.report import RUN_HEADING

CONFIG = """
dataset = "{name}"
workspace = "ws"

[[ingest]]
source = "fer2013"
path = "fer.csv"

[[ingest]]
source = "ferplus"
path = "votes-not-here.csv"
required = false

[clean]
fast = true

[apply]
auto = true
soften = 0.5

[restore]
method = "lanczos"
size = 64

[synth]
classes = ["disgust"]
per_class = 2
required = false

[balance]
target = 25
max_augment = 2

[[export]]
view = "raw"
format = "imagefolder"
overwrite = true

[[export]]
view = "curated"
format = "imagefolder"
overwrite = true

[compare]
views = "raw,curated,raw+gce"
score_split = ["test", "val"]
seeds = 1
epochs = 1
"""


def make_project(root: Path, name: str) -> Path:
    root.mkdir(parents=True)
    rows = fer_rows(210)
    leak = [(rows[0][0], rows[0][1], "PrivateTest")]  # a train face copied into test
    write_fer_csv(root / "fer.csv", rows + rows[:6] + leak)  # and in-split repeats
    (root / "p.toml").write_text(CONFIG.format(name=name))
    return root / "p.toml"


def run(config: Path):
    return CliRunner().invoke(app, ["--no-progress", "pipeline", "--config", str(config)])


HEX64 = re.compile(rb"[0-9a-f]{64}")


def outputs(root: Path, name: str) -> dict[str, str]:
    """Every exported file (as a digest) and the deterministic part of the report.

    Paths are normalised, and so are the 64-hex digests in CARD.md: run fingerprints hash the
    sample ids, which are new ObjectIds in every dataset.
    """
    ws = root / "ws"
    out = {}
    for f in sorted((ws / "exports").rglob("*")):
        if f.is_file():
            data = f.read_bytes().replace(str(root).encode(), b"ROOT")
            if f.name == "CARD.md":
                data = HEX64.sub(b"<sha256>", data)
            out[str(f.relative_to(ws))] = hashlib.sha256(data).hexdigest()
    report = (ws / "reports" / "pipeline.md").read_text().replace(str(root), "ROOT")
    out["report"] = report.split(RUN_HEADING)[0]
    return out


@pytest.mark.timeout(900)
def test_pipeline_interrupted_and_resumed_matches_uninterrupted(tmp_path, monkeypatch):
    name = f"pl_{tmp_path.name[-12:]}"
    fo = store.fo()
    try:
        config = make_project(tmp_path / "a", name)
        r = run(config)
        assert r.exit_code == 0, r.output
        assert "synth" in r.output and "skipped" in r.output and "no model configured" in r.output
        assert "input not found" in r.output  # the optional vote file is not there
        expected = outputs(tmp_path / "a", name)
        assert any(k.startswith("exports/") and "/curated" in k or "curated" in k for k in expected)
        assert "| train | 25 | 25 | 25 | 25 | 25 | 25 | 25 | 175 |" in expected["report"]
        assert "## Raw vs curated" in expected["report"] and "| resnet10t | raw |" \
            in expected["report"] and "| resnet10t | raw+gce |" in expected["report"]
        assert "Scored on the val split (a dev figure)" in expected["report"]
        # it opens with what people's answers say: here, none (no vote file), and how to get some
        first = expected["report"].split("\n## ")[1]
        assert first.startswith("What people's answers say") and "No answers judge these runs" \
            in first and "curate annotate --budget 400" in first
        assert "out-of-fold accuracy" in expected["report"] and "exact groups" in expected["report"]
        assert "- relabelled (ground_truth differs from the source's label): 0" in expected["report"]
        assert "- soft labels (apply --soften 0.5" in expected["report"]

        r = run(config)  # second run: nothing left to do
        assert r.exit_code == 0, r.output
        assert outputs(tmp_path / "a", name) == expected
        run_log = (tmp_path / "a" / "ws" / "reports" / "pipeline.md").read_text().split(RUN_HEADING)[1]
        for stage in ("ingest", "clean", "apply", "restore", "balance", "export", "compare"):
            row = next(line for line in run_log.splitlines() if line.startswith(f"| {stage} |"))
            cells = [c.strip() for c in row.strip("|").split("|")]
            assert cells[1] == "noop" and cells[3] != "-", row  # and its last real run's time
        fo.delete_dataset(name)

        config = make_project(tmp_path / "b", name)
        monkeypatch.setattr(base, "CHUNK", 50)
        real_add, calls = store.add_records, []

        def add_then_die(ds, records):
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return real_add(ds, records)

        monkeypatch.setattr(store, "add_records", add_then_die)
        r = run(config)
        assert r.exit_code == 130, r.output
        monkeypatch.setattr(store, "add_records", real_add)
        r = run(config)
        assert r.exit_code == 0, r.output
        got = outputs(tmp_path / "b", name)
        assert got.keys() == expected.keys()
        assert got["report"] == expected["report"]
        assert got == expected
    finally:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_global_dataset_and_workspace_options_win_over_the_file(tmp_path, dataset_name):
    config = make_project(tmp_path / "p", "name_in_the_file")
    ws = tmp_path / "elsewhere"
    r = CliRunner().invoke(app, ["--no-progress", "--dataset", dataset_name, "--workspace",
                                 str(ws), "pipeline", "--config", str(config), "--until",
                                 "ingest"])
    assert r.exit_code == 0, r.output
    assert len(store.load_dataset(dataset_name)) == 217
    assert not store.fo().dataset_exists("name_in_the_file")
    assert (ws / "reports" / "pipeline.md").is_file() and not (tmp_path / "p" / "ws").exists()
    assert f"--dataset {dataset_name} --workspace {ws} ingest" in \
        (ws / "reports" / "pipeline.md").read_text()
