"""The batch runner without a database: interruption keeps finished work, lazy model build,
the classical path over threads."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures import face, save
from PIL import Image

from curate.restore import runner


class FakeRecorder(runner.Recorder):
    def __init__(self) -> None:
        super().__init__(ds=None, method="m", sha256="s", every_n=10**9, every_s=10**9)
        self.flushed: dict[str, str] = {}

    def flush(self) -> None:
        self.flushed.update(self.pending)
        self.pending = {}


class DyingRestorer:
    """Upsamples by pixel repetition; raises on the batch number `die_at` (1-based)."""

    def __init__(self, die_at: int | None = None) -> None:
        self.calls, self.die_at, self.batch_size = 0, die_at, 2

    def restore(self, images, size, color):
        self.calls += 1
        if self.calls == self.die_at:
            raise KeyboardInterrupt
        return [np.asarray(Image.fromarray(i).resize((size, size))) for i in images]


def _items(tmp_path, n):
    return [runner.Item(str(i), str(save(tmp_path / "in" / f"{i}.png", face(i), "PNG")),
                        tmp_path / "out" / f"{i}.png") for i in range(n)]


def _model(make):
    return runner.BatchRestore(size=64, method="gfpgan", color="gray", make_restorer=make)


def test_interrupted_model_run_records_finished_batches_then_resumes(tmp_path):
    items = _items(tmp_path, 7)
    rec, builds = FakeRecorder(), []
    dying = DyingRestorer(die_at=3)

    def make():
        builds.append(1)
        return dying

    with pytest.raises(KeyboardInterrupt):
        runner.run(items, rec, _model(make), chunk=2)
    assert sorted(rec.flushed) == ["0", "1", "2", "3"] and len(builds) == 1
    rest = [it for it in items if it.id not in rec.flushed]
    out = runner.run(rest, rec, _model(DyingRestorer), chunk=2)
    assert out.restored == 3 and sorted(rec.flushed) == [str(i) for i in range(7)]
    with Image.open(items[6].dst) as im:
        assert im.size == (64, 64) and im.mode == "L"


def test_only_unreadable_images_load_no_model(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG nope")
    items = [runner.Item("a", str(bad), tmp_path / "a.png"),
             runner.Item("b", str(tmp_path / "missing.png"), tmp_path / "b.png")]

    def make():
        raise AssertionError("the model must not be built")

    out = runner.run(items, FakeRecorder(), _model(make), chunk=4)
    assert out.restored == 0 and [s.reason for s in out.skipped][1] == "file not found"
    assert out.skipped[0].reason.startswith("unreadable or truncated")
    assert (out.skipped[1].id, out.skipped[1].file) == ("b", str(tmp_path / "missing.png"))


def test_rgb_outputs_are_written_as_rgb(tmp_path):
    target = tmp_path / "x.png"
    img = np.zeros((8, 8, 3), np.uint8)
    img[..., 0] = 200  # red
    runner.write_png_atomic(img, target)
    with Image.open(target) as im:
        assert im.mode == "RGB" and im.getpixel((0, 0)) == (200, 0, 0)


def test_classical_batches_over_threads_match_one_thread(tmp_path):
    items = _items(tmp_path, 5)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    items.append(runner.Item("bad", str(bad), tmp_path / "out" / "bad.png"))
    one = runner.BatchRestore(size=48, method="lanczos", color="gray")
    reasons = list(one(items))
    first = [items[i].dst.read_bytes() for i in range(5)]
    two = runner.BatchRestore(size=48, method="lanczos", color="gray", threads=2)
    out = runner.run(items, FakeRecorder(), two, chunk=4)
    assert reasons[:5] == [None] * 5 and reasons[5].startswith("unreadable")
    assert out.restored == 5 and [s.id for s in out.skipped] == ["bad"]
    assert [items[i].dst.read_bytes() for i in range(5)] == first and out.batch_size is None


class HalvingRestorer(DyingRestorer):
    """Falls back from batch 2 to 1 on its first call, as GFPGANRestorer does on out-of-memory."""

    def restore(self, images, size, color):
        self.batch_size = 1
        return super().restore(images, size, color)


def test_ray_engine_records_the_halved_batch_as_the_local_run_does(tmp_path, monkeypatch):
    from curate.core import engine

    items = _items(tmp_path, 4)
    settings = {"size": 64, "method": "gfpgan", "color": "gray", "make_restorer": HalvingRestorer}

    def in_process(rows, fn, kwargs, *, batch_size, workers, num_gpus=0.0):
        actor = fn(**kwargs)  # the actor's own code, without starting a cluster
        for i in range(0, len(rows["id"]), batch_size):
            yield actor({k: v[i:i + batch_size] for k, v in rows.items()})

    monkeypatch.setattr(engine, "ray_map", in_process)
    out = runner.run_ray(items, FakeRecorder(), settings, chunk=2, workers=1)
    local = runner.run(items, FakeRecorder(), runner.BatchRestore(**settings), chunk=2)
    assert out.restored == local.restored == 4 and out.batch_size == local.batch_size == 1
