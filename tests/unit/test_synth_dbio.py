"""The synthesis stage's real-image hashes: stored `phash` values, files, and the cache."""

from __future__ import annotations

import json

import numpy as np

from augment.synth import dbio
from augment.synth.gate import phashes
from curate.core import schema
from curate.core.hashing import to_hex
from curate.core.imageio import write_png_atomic


class FakeView:
    """Just enough of a FiftyOne dataset: `match` (the real() selection) and bulk `values`."""

    def __init__(self, cols: dict[str, list]) -> None:
        self.cols, self.matched = cols, []

    def match(self, expr: dict) -> FakeView:
        self.matched.append(expr)
        return self

    def get_field_schema(self) -> dict:
        return dict.fromkeys(self.cols)

    def values(self, names: list[str]) -> list[list]:
        return [self.cols[n] for n in names]


def test_real_hashes_use_stored_values_then_files_then_the_cache(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (48, 48), dtype=np.uint8) for _ in range(3)]
    paths = [str(tmp_path / f"{i}.png") for i in range(3)]
    for img, p in zip(images, paths, strict=True):
        write_png_atomic(img, tmp_path / p)
    want = phashes(images)
    stored = [to_hex(want[:1])[0], None, "not-a-hash"]  # sample 0 hashed by `curate clean`
    view = FakeView({"id": ["a", "b", "c"], schema.FILEPATH: paths, schema.PHASH: stored})
    cache = tmp_path / "real_phash.json"
    hashes, ids = dbio.real_hashes(view, cache, progress=False)
    assert view.matched[0] == schema.real()
    assert ids == ["a", "b", "c"] and hashes.tolist() == want.tolist()
    assert json.loads(cache.read_text()) == {
        sid: [p, h] for sid, p, h in zip(ids, paths, to_hex(want), strict=True)}

    def no_file_reads(paths, progress):
        raise AssertionError(f"hashed {paths} again")

    monkeypatch.setattr(dbio, "_hash_files", no_file_reads)
    again, _ = dbio.real_hashes(view, cache, progress=False)  # from the cache: no file read
    assert again.tolist() == want.tolist()
