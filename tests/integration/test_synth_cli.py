"""`augment synth` end to end on a real FiftyOne database with tiny real models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fixtures import fer_rows, write_fer_csv
from synth_fixtures import make_sd15
from typer.testing import CliRunner

from augment.cli import app as augment_app
from curate.cli import app as curate_app
from curate.core import schema, store
from train.reference import ReferenceSpec, build_model, save_reference

runner = CliRunner()


def run(app, name: str, ws: Path, *args: str):
    return runner.invoke(app, ["--dataset", name, "--workspace", str(ws), "--no-progress", *args])


@pytest.fixture(scope="module")
def sd15(tmp_path_factory) -> Path:
    return make_sd15(tmp_path_factory.mktemp("models") / "tiny-sd15")


def setup_dataset(tmp_path: Path, name: str, rows=None) -> Path:
    ws = tmp_path / "ws"
    csv_path = write_fer_csv(tmp_path / "fer2013.csv", rows or fer_rows(14))
    r = run(curate_app, name, ws, "ingest", "fer2013", str(csv_path))
    assert r.exit_code == 0, r.output
    spec = ReferenceSpec(backbone="resnet10t", img_size=32)
    save_reference(ws / "runs" / "reference", [build_model(spec)], spec)
    return ws


def test_cli_tiny_pipeline_rejects_noise_then_rerun_adds_nothing(tmp_path, dataset_name, sd15):
    ws = setup_dataset(tmp_path, dataset_name)
    args = ("synth", "--model", str(sd15), "--classes", "disgust,fear", "--per-class", "2",
            "--max-attempts", "2", "--steps", "2", "--batch-size", "2", "--device", "cpu")
    r = run(augment_app, dataset_name, ws, *args)
    assert r.exit_code == 1, r.output
    assert "none of the 4 generated images passed the gate" in r.output
    assert "no_face 4" in r.output
    rejected = sorted((ws / "media" / "synthetic" / "rejected").rglob("*.json"))
    assert len(rejected) == 4
    info = json.loads(rejected[0].read_text())
    assert "no_face" in info["reasons"] and info["steps"] == 2 and info["guidance"] == 7.5
    assert {"face_found", "ref_prob", "min_phash_distance", "nsfw", "phash"} <= set(info["gate"])
    assert info["safety_checker"] is False and info["size"] == [64, 64]
    ds = store.load_dataset(dataset_name)
    assert len(ds.match({schema.SOURCE: schema.SYNTHETIC_SOURCE})) == 0
    run_info = ds.info["runs"]["synth"][-1]
    assert run_info["counts"]["attempted"] == 4 and run_info["counts"]["reasons"]["no_face"] == 4

    r = run(augment_app, dataset_name, ws, *args)   # same seed range: nothing generated again
    assert r.exit_code == 0, r.output
    assert "nothing to do" in r.output
    assert len(sorted((ws / "media" / "synthetic" / "rejected").rglob("*.json"))) == 4


def test_cli_bad_inputs(tmp_path, dataset_name, sd15):
    ws = setup_dataset(tmp_path, dataset_name)
    r = run(augment_app, dataset_name, ws, "synth", "--model", str(sd15), "--classes",
            "disgust,joy", "--per-class", "1")
    assert r.exit_code == 2 and "unknown class(es) joy" in r.output
    r = run(augment_app, dataset_name, ws, "synth", "--model", str(sd15), "--classes", "fear")
    assert r.exit_code == 2 and "--classes needs --per-class N" in r.output
    r = run(augment_app, dataset_name, ws, "synth", "--model", str(tmp_path), "--classes",
            "fear", "--per-class", "1", "--device", "cpu")
    assert r.exit_code == 4 and "is not a diffusers model" in r.output
    r = run(augment_app, dataset_name, ws, "synth", "--model", str(sd15), "--plan", "balance",
            "--device", "cpu")
    assert r.exit_code == 3 and "run `curate balance --dry-run`" in r.output
    (ws / "runs" / "reference" / "reference.json").unlink()
    r = run(augment_app, dataset_name, ws, "synth", "--model", str(sd15), "--classes", "fear",
            "--per-class", "1", "--device", "cpu")
    assert r.exit_code == 4 and "no reference classifier" in r.output


def _astronaut_face() -> np.ndarray:
    from skimage import data

    return data.astronaut()


class PlantedGenerator:
    """Stands in for the pipeline's output only: image i of a class is planted[i]."""

    def __init__(self, source, planted: list[np.ndarray]) -> None:
        self.source, self.planted, self.has_safety_checker, self.calls = source, planted, False, 0

    def generate(self, prompts, negatives, seeds, steps, guidance, size=None):
        from augment.synth.models import Generated
        from augment.synth.prompts import SEED_STRIDE

        self.calls += 1
        return [Generated(self.planted[s % SEED_STRIDE], None) for s in seeds]


def test_gate_admits_real_face_rejects_duplicate_and_blank(tmp_path, dataset_name, sd15,
                                                           monkeypatch):
    from augment.synth import stage
    from augment.synth.render import TargetFormat, render

    face = _astronaut_face()
    real, _ = render(face, TargetFormat(48, 48, 1))
    rows = fer_rows(14)
    rows.append((1, " ".join(map(str, real.ravel())), "PrivateTest"))  # a real *test* face
    ws = setup_dataset(tmp_path, dataset_name, rows)
    planted = [face, np.ascontiguousarray(face[:, ::-1]), np.zeros_like(face)]
    gens = []
    monkeypatch.setattr(stage, "load_generator",
                        lambda source, device: gens.append(PlantedGenerator(source, planted))
                        or gens[-1])
    args = ("synth", "--model", str(sd15), "--classes", "disgust", "--per-class", "2",
            "--max-attempts", "3", "--threshold", "0", "--steps", "2", "--device", "cpu")
    r = run(augment_app, dataset_name, ws, *args)
    assert r.exit_code == 0, r.output
    ds = store.load_dataset(dataset_name)
    syn = ds.match({schema.SOURCE: schema.SYNTHETIC_SOURCE})
    assert len(syn) == 1
    s = syn.first()
    model_hash = s.synthetic["model_sha256"]
    assert s.source_id == f"{model_hash[:12]}/disgust/{1_000_001}"
    assert (s.split, s.ground_truth.label, s.orig_label, s.tags) == ("train", "disgust", "disgust",
                                                                      [schema.SYNTHETIC_TAG])
    assert Path(s.filepath).parent == ws.resolve() / "media" / "synthetic" / "disgust"
    assert (s.metadata.width, s.metadata.height, s.metadata.num_channels) == (48, 48, 1)
    prov = s.synthetic
    for key in ("model", "model_sha256", "prompt", "negative_prompt", "seed", "steps", "guidance",
                "size", "gate", "safety_checker"):
        assert prov[key] is not None or key == "safety_checker", key
    assert prov["seed"] == 1_000_001 and prov["steps"] == 2 and prov["size"] == [512, 512]
    gate = prov["gate"]
    assert gate["face_found"] and gate["passed"] and gate["min_phash_distance"] > 6
    assert gate["nsfw"] is None and 0 <= gate["ref_prob"] <= 1

    rej = ws / "media" / "synthetic" / "rejected" / "disgust"
    dup = json.loads((rej / f"{model_hash[:12]}_1000000.json").read_text())
    assert dup["reasons"] == ["near_duplicate"] and dup["gate"]["min_phash_distance"] == 0
    real_test_id = ds.match({schema.SPLIT: "test", schema.SOURCE_ID: "14"}).first().id
    assert dup["gate"]["nearest_real_id"] == real_test_id
    blank = json.loads((rej / f"{model_hash[:12]}_1000002.json").read_text())
    assert set(blank["reasons"]) == {"no_face", "blacked_out"}
    assert (rej / f"{model_hash[:12]}_1000002.png").is_file()

    r = run(augment_app, dataset_name, ws, *args)   # resumable: every seed decided already
    assert r.exit_code == 0 and "nothing to do" in r.output and len(gens) == 1
    assert len(store.load_dataset(dataset_name).match({schema.SOURCE: schema.SYNTHETIC_SOURCE})) == 1


def test_plan_balance_reads_the_stored_plan(tmp_path, dataset_name, sd15, monkeypatch):
    from augment.synth import stage

    ws = setup_dataset(tmp_path, dataset_name)
    ds = store.load_dataset(dataset_name)
    ds.info["balance_plan"] = {"synthetic_needed": {"fear": 1, "happy": 0}}
    ds.save()
    flipped = np.ascontiguousarray(_astronaut_face()[:, ::-1])
    monkeypatch.setattr(stage, "load_generator",
                        lambda source, device: PlantedGenerator(source, [flipped]))
    r = run(augment_app, dataset_name, ws, "synth", "--model", str(sd15), "--plan", "balance",
            "--threshold", "0", "--device", "cpu")
    assert r.exit_code == 0, r.output
    ds = store.load_dataset(dataset_name)
    assert ds.match({schema.SOURCE: schema.SYNTHETIC_SOURCE}).values(schema.LABEL_PATH) == ["fear"]
    ds.info["balance_plan"] = {"synthetic_needed": {"fear": 1}, "rows": [
        {"split": "train", "cls": "fear", "synthetic": 1, "synthetic_existing": 0}]}
    ds.save()  # a stale plan (made before the run above): its total is already reached
    r = run(augment_app, dataset_name, ws, "synth", "--model", str(sd15), "--plan", "balance",
            "--threshold", "0", "--device", "cpu")
    assert r.exit_code == 0 and "nothing to do" in r.output, r.output
    assert len(store.load_dataset(dataset_name).match({schema.SOURCE: schema.SYNTHETIC_SOURCE})) == 1
