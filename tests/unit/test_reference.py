import numpy as np
import pytest

from curate.core.errors import ModelError
from train.reference import ReferenceSpec, build_model, load_reference, save_reference


def test_reference_round_trip_and_checksum(tmp_path):
    spec = ReferenceSpec(backbone="resnet10t", img_size=32)
    models = [build_model(spec), build_model(spec)]
    save_reference(tmp_path, models, spec, accuracy=0.5)
    ref = load_reference(tmp_path)
    imgs = [np.full((48, 48), i * 20, np.uint8) for i in range(5)]
    p = ref.predict_proba(imgs, batch_size=2)
    assert p.shape == (5, 7) and np.allclose(p.sum(1), 1, atol=1e-5)
    assert ref.info["accuracy"] == 0.5
    f = tmp_path / "model_1.safetensors"
    f.write_bytes(f.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(ModelError, match="does not match the recorded"):
        load_reference(tmp_path)
    with pytest.raises(ModelError, match="no reference classifier"):
        load_reference(tmp_path / "none")
