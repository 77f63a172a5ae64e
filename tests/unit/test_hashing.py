"""pHash identical to imagehash's; pixel digests ignore the file encoding."""

from __future__ import annotations

import imagehash
import numpy as np
from PIL import Image

from curate.core import hashing


def _imagehash(img: np.ndarray) -> str:
    return str(imagehash.phash(Image.fromarray(img)))


def test_phash_identical_to_imagehash_on_random_images_of_many_sizes():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, size=(48, 48), dtype=np.uint8) for _ in range(30)]
    images += [np.kron(rng.integers(0, 256, (12, 12), dtype=np.uint8), np.ones((4, 4), np.uint8))
               for _ in range(10)]
    images += [rng.integers(0, 256, size=s, dtype=np.uint8) for s in
               [(100, 100), (37, 61), (20, 25), (32, 32), (300, 200), (8, 9)]]
    images += [np.zeros((48, 48), np.uint8), np.full((48, 48), 255, np.uint8),
               np.tile(np.arange(48, dtype=np.uint8) * 5, (48, 1)),
               np.eye(48, dtype=np.uint8) * 255]
    mine = hashing.to_hex(hashing.phash_many(images))
    assert mine == [_imagehash(im) for im in images]
    assert len(images) >= 50


def test_resize_matches_pillow_lanczos_exactly():
    rng = np.random.default_rng(1)
    batch = rng.integers(0, 256, size=(20, 48, 48), dtype=np.uint8)
    ref = np.stack([np.asarray(Image.fromarray(x).resize((32, 32), Image.LANCZOS)) for x in batch])
    assert np.array_equal(hashing.resize_like_pil(batch), ref)


def test_hex_round_trip_and_missing_images():
    rng = np.random.default_rng(2)
    imgs = [rng.integers(0, 256, (48, 48), dtype=np.uint8), None]
    h = hashing.phash_many(imgs)
    assert h[1] == 0
    assert hashing.from_hex(hashing.to_hex(h))[0] == h[0]


def test_pixel_digest_depends_on_pixels_and_shape_only():
    a = np.arange(48 * 48, dtype=np.uint32).astype(np.uint8).reshape(48, 48)
    assert hashing.pixel_digest(a) == hashing.pixel_digest(a.copy())
    b = a.copy()
    b[0, 0] ^= 1
    assert hashing.pixel_digest(a) != hashing.pixel_digest(b)
    assert hashing.pixel_digest(a) != hashing.pixel_digest(a.reshape(24, 96))


def test_load_pixels_decodes_and_digests_each_file_and_reports_bad_ones(tmp_path):
    from curate.clean.pixels import load_pixels

    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (48, 48), dtype=np.uint8)
    Image.fromarray(a).save(tmp_path / "a.png")
    Image.fromarray(a).save(tmp_path / "a.jpg", quality=100)  # lossy: other pixels
    Image.fromarray(a).save(tmp_path / "a_level9.png", compress_level=9)  # same pixels
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot an image")
    names = ["a.png", "a.jpg", "missing.png", "a_level9.png", "broken.png"]
    px = load_pixels(names, [str(tmp_path / n) for n in names], workers=2, phash=True)
    assert px.ids == names
    assert px.phashes.tolist() == hashing.phash_many(px.images).tolist()
    assert px.phashes[2] == 0 and px.phashes[0] == px.phashes[3] != 0
    assert load_pixels(names[:1], [str(tmp_path / "a.png")]).phashes is None
    assert np.array_equal(px.images[0], a)
    assert px.digests[0] == px.digests[3] == hashing.pixel_digest(a)
    assert px.digests[1] not in (None, px.digests[0])
    assert px.images[2] is None and px.digests[2] is None and px.images[4] is None
    assert px.errors[2] == "file not found" and px.errors[4].startswith("unreadable image")
    assert px.ok.tolist() == [True, True, False, True, False]
