"""`--engine ray` on a local 2-CPU Ray cluster against the real database. `curate restore`: the
same files (bit for bit) and fields as the local engine, the expression check through Ray
actors, a worker killed mid-run retried by Ray, a driver interrupted mid-run resumed like the
local one. `curate clean`: the images read and hashed on Ray actors give the duplicates and
quality checks the same fields and tags as the local engine, unreadable files counted alike.

Deselect with `-m 'not ray'`; the tests skip with Ray's own reason when it cannot start here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fixtures import fer_rows, write_fer_csv
from restore_fixtures import gfpgan_ckpt, ingest_small_fer, write_tiny_reference  # noqa: F401
from typer.testing import CliRunner

from curate.clean import pixels
from curate.cli import app
from curate.core import engine, store
from curate.restore import runner as restore_runner
from train.reference import reference_dir

pytestmark = pytest.mark.ray
cli_runner = CliRunner()


@pytest.fixture(scope="module")
def ray_cluster():
    """One local cluster of 2 CPUs for the module, started by the engine's own session (the
    stage then reuses it, as it reuses a cluster at RAY_ADDRESS)."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'ray[data]')")
    try:
        session = engine.ray_session(2)
        ray = session.__enter__()
    except engine.EngineError as e:
        pytest.skip(f"Ray cannot start a local cluster here: {e}")
    import test_engine_ray

    ray.cloudpickle.register_pickle_by_value(test_engine_ray)  # the crashing worker below
    yield ray
    session.__exit__(None, None, None)


def cli(name: str, ws: Path, *args: str):
    return cli_runner.invoke(app, ["--dataset", name, "--workspace", str(ws), "--no-progress",
                                   *args])


def _outputs(name: str, ws: Path) -> dict[str, tuple[bytes, str, str | None]]:
    """source_id -> (restored file's bytes, its path under the workspace, method)."""
    ds = store.load_dataset(name)
    out = {}
    for sid, path, method in zip(*ds.values(["source_id", "restored_filepath",
                                             "restore_method"]), strict=True):
        out[sid] = (Path(path).read_bytes(), str(Path(path).relative_to(ws.resolve())), method)
    return out


def _tags(name: str) -> dict[str, list[str]]:
    ds = store.load_dataset(name)
    return dict(zip(ds.values("source_id"), map(sorted, ds.values("tags")), strict=True))


def _two_datasets(tmp_path: Path, name: str, n: int) -> tuple[tuple[str, Path], tuple[str, Path]]:
    """The same small FER-2013 ingested twice (one per engine), each with the same reference."""
    pairs = []
    for tag in ("local", "ray"):
        ws, ds_name = tmp_path / f"ws-{tag}", f"{name}-{tag}"
        (tmp_path / tag).mkdir()
        ingest_small_fer(cli, ds_name, ws, tmp_path / tag, n)
        write_tiny_reference(reference_dir(store_ws(ds_name, ws)))
        pairs.append((ds_name, ws))
    return pairs[0], pairs[1]


def store_ws(name: str, ws: Path):
    from curate.core.workspace import Workspace

    return Workspace.for_dataset(name, ws)


@pytest.fixture
def two_names(dataset_name):
    yield dataset_name
    for tag in ("local", "ray"):
        if store.fo().dataset_exists(f"{dataset_name}-{tag}"):
            store.fo().delete_dataset(f"{dataset_name}-{tag}")


def test_classical_restore_and_check_match_the_local_engine(tmp_path, two_names, ray_cluster):
    (a, ws_a), (b, ws_b) = _two_datasets(tmp_path, two_names, 20)
    args = ("restore", "--method", "lanczos", "--size", "64", "--batch-size", "4")
    r = cli(a, ws_a, *args)
    assert r.exit_code == 0, r.output
    r = cli(b, ws_b, *args, "--engine", "ray", "--workers", "2")
    assert r.exit_code == 0, r.output
    assert "restored 20, already done 0, skipped 0 of 20" in r.output
    assert _outputs(a, ws_a) == _outputs(b, ws_b)  # same files, bytes, fields
    assert _tags(a) == _tags(b)  # the check's issue:restore_changed on the same samples
    ra, rb = (store.load_dataset(n).info["runs"]["restore"][-1] for n in (a, b))
    assert ra["check"] == rb["check"]  # (fingerprints differ: they hash each dataset's ids)
    # the engine is not part of the fingerprint: the local engine finds nothing left to do
    r = cli(b, ws_b, *args)
    assert r.exit_code == 0 and "unchanged since the last run" in r.output


class CrashOnce:
    """The restore actor, except that the first actor to get a batch dies (os._exit) before
    answering; `marker` records that it happened."""

    marker = ""

    def __init__(self, **settings):
        self.inner = restore_runner.RayRestore(**settings)

    def __call__(self, batch):
        if not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os._exit(1)
        return self.inner(batch)


def test_a_killed_worker_is_retried_and_nothing_is_lost(tmp_path, dataset_name, ray_cluster,
                                                         monkeypatch):
    ws = tmp_path / "ws"
    ingest_small_fer(cli, dataset_name, ws, tmp_path, 16)
    CrashOnce.marker = str(tmp_path / "crashed")
    monkeypatch.setattr(restore_runner, "RayRestore", CrashOnce)
    r = cli(dataset_name, ws, "restore", "--method", "bicubic", "--size", "48", "--no-check",
            "--batch-size", "4", "--engine", "ray")
    assert r.exit_code == 0, r.output
    assert Path(CrashOnce.marker).is_file()  # a worker did die
    assert "restored 16, already done 0, skipped 0 of 16" in r.output
    paths = store.load_dataset(dataset_name).values("restored_filepath")
    assert all(p and Path(p).is_file() for p in paths)


def test_an_interrupted_driver_resumes_with_only_the_rest(tmp_path, dataset_name, ray_cluster,
                                                          monkeypatch):
    ws = tmp_path / "ws"
    ingest_small_fer(cli, dataset_name, ws, tmp_path, 24)
    real, seen = restore_runner._record, []

    def record_then_die(out, rec, item, reason):
        if len(seen) == 10:
            raise KeyboardInterrupt
        seen.append(item.id)
        real(out, rec, item, reason)

    monkeypatch.setattr(restore_runner, "_record", record_then_die)
    args = ("restore", "--method", "lanczos", "--size", "48", "--no-check", "--batch-size", "4",
            "--engine", "ray")
    r = cli(dataset_name, ws, *args)
    assert r.exit_code == 130 and "re-run the same command to resume" in r.output
    done = [p for p in store.load_dataset(dataset_name).values("restored_filepath") if p]
    assert len(done) == 10
    monkeypatch.setattr(restore_runner, "_record", real)
    r = cli(dataset_name, ws, *args)
    assert r.exit_code == 0 and "restored 14, already done 10" in r.output, r.output


@pytest.mark.slow
def test_gfpgan_on_ray_matches_the_local_engine(tmp_path, two_names, ray_cluster,
                                                gfpgan_ckpt):  # noqa: F811
    (a, ws_a), (b, ws_b) = _two_datasets(tmp_path, two_names, 5)
    args = ("restore", "--weights", str(gfpgan_ckpt), "--size", "64", "--batch-size", "2",
            "--device", "cpu", "--no-check")
    assert cli(a, ws_a, *args).exit_code == 0
    r = cli(b, ws_b, *args, "--engine", "ray", "--workers", "2")
    assert r.exit_code == 0, r.output
    assert _outputs(a, ws_a) == _outputs(b, ws_b)


# per dataset: ids (the label's too: ground_truth is compared by its label), paths, times
_NOT_COMPARED = {"id", "filepath", "metadata", "created_at", "last_modified_at", "ground_truth"}


def _fields(name: str) -> dict[str, dict]:
    """source_id -> every field the checks can write (and the tags), from the store."""
    ds = store.load_dataset(name)
    names = sorted(set(ds.get_field_schema()) - _NOT_COMPARED) + ["ground_truth.label"]
    return {row[0]: dict(zip(names, row[1:], strict=True))
            for row in zip(ds.values("source_id"), *ds.values(names), strict=True)}


def test_clean_reads_images_on_ray_with_the_local_engines_results(tmp_path, two_names,
                                                                   ray_cluster, monkeypatch):
    rows = fer_rows(18)
    leak = next(u for u in ("Training", "PublicTest") if u != rows[4][2])
    rows += [rows[0], rows[1], (*rows[4][:2], leak)]  # exact copies, one across splits (a leak)
    names = []
    for tag in ("local", "ray"):
        name, ws = f"{two_names}-{tag}", tmp_path / f"ws-{tag}"
        (tmp_path / tag).mkdir()
        r = cli(name, ws, "ingest", "fer2013",
                str(write_fer_csv(tmp_path / tag / "fer2013.csv", rows)))
        assert r.exit_code == 0, r.output
        ds = store.load_dataset(name)
        Path(ds.match({"source_id": ds.first()["source_id"]}).first().filepath).unlink()
        names.append((name, ws))
    (a, ws_a), (b, ws_b) = names
    monkeypatch.setattr(pixels, "CHUNK", 4)  # several batches, so several actors and any order
    args = ("clean", "--checks", "duplicates,quality")
    r = cli(a, ws_a, *args)
    assert r.exit_code == 0, r.output
    r = cli(b, ws_b, *args, "--engine", "ray", "--workers", "2")
    assert r.exit_code == 0, r.output
    local, ray_ = _fields(a), _fields(b)
    diff = {(sid, k) for sid in local for k in local[sid] if local[sid][k] != ray_[sid][k]}
    assert not diff, sorted(diff)[:5]
    tags = [t for f in local.values() for t in f["tags"]]
    assert tags.count("issue:duplicate") >= 4 and "issue:leak" in tags  # the copies were found
    ra, rb = (store.load_dataset(n).info["runs"] for n in (a, b))
    for check in ("clean:duplicates", "clean:quality"):
        assert ra[check][-1]["counts"] == rb[check][-1]["counts"]
    assert rb["clean:quality"][-1]["counts"]["unreadable"] == 1  # the deleted file, counted
    assert rb["clean:quality"][-1]["config"]["engine"] == "ray"


@pytest.fixture(scope="module")
def sd15(tmp_path_factory) -> Path:
    from synth_fixtures import make_sd15

    return make_sd15(tmp_path_factory.mktemp("models") / "tiny-sd15")


def _synth_outputs(ws: Path) -> dict[str, tuple]:
    """Per rejected image (the tiny model draws noise: no face): its reasons, seed, prompt and
    pixels."""
    import json

    import numpy as np
    from PIL import Image

    out = {}
    for meta in sorted((ws / "media" / "synthetic" / "rejected").rglob("*.json")):
        info = json.loads(meta.read_text())
        pixels = np.asarray(Image.open(meta.with_suffix(".png")), dtype=np.int16)
        out[f"{meta.parent.name}/{meta.stem}"] = (info["reasons"], info["seed"], info["prompt"],
                                                  info["size"], pixels)
    return out


def test_synth_on_ray_tries_the_same_seeds_and_makes_the_same_images(tmp_path, two_names,
                                                                    ray_cluster, sd15):
    from augment.cli import app as augment_app

    (a, ws_a), (b, ws_b) = _two_datasets(tmp_path, two_names, 12)
    args = ["--no-progress", "synth", "--model", str(sd15), "--classes", "disgust,fear",
            "--per-class", "2", "--max-attempts", "2", "--steps", "2", "--batch-size", "2",
            "--device", "cpu"]  # one wave: 2 per class (the waves' logic: test_synth_cli.py)
    ra = cli_runner.invoke(augment_app, ["--dataset", a, "--workspace", str(ws_a), *args])
    rb = cli_runner.invoke(augment_app, ["--dataset", b, "--workspace", str(ws_b), *args,
                                         "--engine", "ray", "--workers", "2"])
    assert ra.exit_code == rb.exit_code == 1, (ra.output, rb.output)  # noise: nothing admitted
    assert "none of the 4 generated images passed the gate" in rb.output
    local, on_ray = _synth_outputs(ws_a), _synth_outputs(ws_b)
    assert len(local) == 4 and local.keys() == on_ray.keys()  # the same seeds tried
    for key, (reasons, seed, prompt, size, image) in local.items():
        r_reasons, r_seed, r_prompt, r_size, r_image = on_ray[key]
        assert (reasons, seed, prompt, size) == (r_reasons, r_seed, r_prompt, r_size), key
        # the same image; an actor computes with one thread, which may round differently
        assert int(abs(image - r_image).max()) <= 1, key
    runs_a, runs_b = (store.load_dataset(n).info["runs"]["synth"][-1] for n in (a, b))
    assert runs_a["counts"] == runs_b["counts"]
    r = cli_runner.invoke(augment_app, ["--dataset", b, "--workspace", str(ws_b), *args,
                                        "--engine", "ray"])
    assert r.exit_code == 0 and "nothing to do" in r.output  # every seed decided: no actor starts
