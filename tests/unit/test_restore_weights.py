"""Weights registry, cache dir, sha256 verification, opt-in download (file:// URLs, offline)."""

from __future__ import annotations

import hashlib

import pytest

from curate.core.errors import ModelError
from curate.restore import weights
from curate.restore.weights import KnownWeights


@pytest.fixture
def fake_registry(tmp_path, monkeypatch):
    """A registry entry served from a local file:// URL."""
    blob = b"not really a checkpoint" * 100
    src = tmp_path / "server" / "Fake.pth"
    src.parent.mkdir()
    src.write_bytes(blob)
    known = KnownWeights("Fake", "Fake.pth", src.as_uri(), hashlib.sha256(blob).hexdigest())
    monkeypatch.setitem(weights.REGISTRY, "Fake", known)
    return known


def test_registry_pins_official_releases():
    for name in ("GFPGANv1.3", "GFPGANv1.4"):
        k = weights.REGISTRY[name]
        assert k.url.startswith("https://github.com/TencentARC/GFPGAN/releases/download/")
        assert k.url.endswith(f"/{name}.pth") and len(k.sha256) == 64


def test_cache_dir_override_env_and_default(tmp_path, monkeypatch):
    monkeypatch.delenv(weights.CACHE_ENV, raising=False)
    assert weights.cache_dir().parts[-3:] == (".cache", "fer-curate", "weights")
    monkeypatch.setenv(weights.CACHE_ENV, str(tmp_path / "c"))
    assert weights.cache_dir() == tmp_path / "c" / "weights"
    assert weights.cache_dir(tmp_path / "x") == tmp_path / "x"


def test_missing_weights_say_what_to_fetch_and_where(tmp_path):
    with pytest.raises(ModelError) as e:
        weights.resolve(model="GFPGANv1.4", cache=tmp_path / "cache")
    msg = str(e.value)
    assert "\n" not in msg
    assert weights.REGISTRY["GFPGANv1.4"].url in msg
    assert str(tmp_path / "cache" / "GFPGANv1.4.pth") in msg and "--download" in msg
    with pytest.raises(ModelError, match="unknown GFPGAN model 'v9'"):
        weights.resolve(model="v9", cache=tmp_path)


def test_download_only_when_asked_then_verified(tmp_path, fake_registry):
    cache = tmp_path / "cache"
    with pytest.raises(ModelError, match="weights not found"):
        weights.resolve(model="Fake", cache=cache)
    wf = weights.resolve(model="Fake", cache=cache, allow_download=True)
    assert wf.verified and wf.name == "Fake" and wf.sha256 == fake_registry.sha256
    assert (cache / "Fake.pth").is_file() and not list(cache.glob("*.incomplete"))
    assert weights.resolve(model="Fake", cache=cache).path == cache / "Fake.pth"


def test_checksum_mismatch_names_both_hashes(tmp_path, fake_registry):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "Fake.pth").write_bytes(b"truncated")
    got = hashlib.sha256(b"truncated").hexdigest()
    with pytest.raises(ModelError) as e:
        weights.resolve(model="Fake", cache=cache)
    assert got in str(e.value) and fake_registry.sha256 in str(e.value)
    assert "checksum mismatch" in str(e.value)
    # the same through --weights: the file name says which release it claims to be
    with pytest.raises(ModelError, match=fake_registry.sha256):
        weights.resolve(weights=cache / "Fake.pth")


def test_download_with_wrong_hash_saves_nothing(tmp_path, fake_registry, monkeypatch):
    monkeypatch.setitem(weights.REGISTRY, "Fake",
                        KnownWeights("Fake", "Fake.pth", fake_registry.url, "0" * 64))
    with pytest.raises(ModelError, match="checksum mismatch for the download"):
        weights.resolve(model="Fake", cache=tmp_path / "c", allow_download=True)
    assert not any((tmp_path / "c").iterdir())


def test_local_files_known_by_hash_or_unverified(tmp_path, fake_registry):
    renamed = tmp_path / "my-copy.pth"
    renamed.write_bytes(b"not really a checkpoint" * 100)
    wf = weights.resolve(weights=renamed)
    assert wf.verified and wf.name == "Fake"
    other = tmp_path / "finetuned.pth"
    other.write_bytes(b"something else")
    wf = weights.resolve(weights=other)
    assert not wf.verified and wf.sha256 == hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(ModelError, match="does not exist"):
        weights.resolve(weights=tmp_path / "nope.pth")
