import numpy as np
import pytest
from fixtures import face, save
from PIL import Image

from curate.core import imageio


def test_probe_reads_metadata(tmp_path):
    p = save(tmp_path / "a.jpg", face(1, 100, 3))
    info = imageio.probe(p)
    assert (info.width, info.height, info.channels, info.mime_type) == (100, 100, 3, "image/jpeg")


def test_truncated_and_garbage_files_are_bad(tmp_path):
    p = save(tmp_path / "a.png", face(1, 96), "PNG")
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(imageio.BadImage, match="truncated"):
        imageio.probe(p)
    (tmp_path / "b.jpg").write_bytes(b"not an image at all")
    with pytest.raises(imageio.BadImage, match="unreadable"):
        imageio.probe(tmp_path / "b.jpg")
    with pytest.raises(imageio.BadImage, match="file not found"):
        imageio.probe(tmp_path / "missing.png")


def test_images_over_50_megapixels_are_refused_from_the_header(tmp_path):
    p = tmp_path / "huge.png"
    Image.new("L", (8000, 7000)).save(p)  # 56 MP; compresses to a small file
    with pytest.raises(imageio.BadImage, match="over 50 megapixels"):
        imageio.probe(p)


def test_atomic_png_write_leaves_no_temp_files(tmp_path):
    out = tmp_path / "m" / "x.png"
    size = imageio.write_png_atomic(face(3), out)
    assert size == out.stat().st_size and list(out.parent.iterdir()) == [out]
    np.testing.assert_array_equal(imageio.read_gray(out), face(3))
    plain = tmp_path / "plain"
    plain.write_bytes(b"")  # the mode open() gives under this umask (mkstemp's 0600 was kept)
    assert out.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_a_failed_png_write_names_the_file(tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    out = tmp_path / "a.png"
    try:
        imageio.write_png_atomic(np.zeros((4, 4), np.uint8), out)
    except OSError as e:
        assert e.errno == errno.ENOSPC and e.filename == str(out)
    else:
        raise AssertionError("no error raised")
    assert not out.exists() and not list(tmp_path.iterdir())  # no temp file left behind
