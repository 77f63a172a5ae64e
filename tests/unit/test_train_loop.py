"""The training loop on generated images with tiny real timm models (no DB)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from train_fixtures import make_set

from curate.core.errors import InputError, ModelError
from train.data import augment
from train.loop import BEST, CONFIG, LAST, TrainConfig, Trainer
from train.metrics import ece, evaluate, log_loss
from train.model import check_backbone, create_model

TINY = dict(backbone="test_efficientnet_gn", img_size=32, batch_size=16, lr=3e-3, shift=1,
            patience=0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_loss_falls_and_best_checkpoint_is_saved(tmp_path):
    cfg = TrainConfig(epochs=3, **TINY)
    r = Trainer(cfg, make_set(112, side=32), make_set(28, 1, 32, "val"), tmp_path).fit()
    losses = [h["train_loss"] for h in r.history]
    assert losses[-1] < 0.5 * losses[0]
    assert r.history[-1]["val_accuracy"] > 0.5
    assert (tmp_path / BEST).is_file() and (tmp_path / CONFIG).is_file()
    ckpt = torch.load(tmp_path / LAST, weights_only=True)
    assert ckpt["state"]["epoch"] == 3


def test_resume_continues_the_same_run(tmp_path, monkeypatch):
    cfg = TrainConfig(epochs=4, schedule="cosine", **TINY)
    train, val = make_set(64, side=32), make_set(14, 1, 32, "val")
    ref = Trainer(cfg, train, val, tmp_path / "a").fit()

    crashing = Trainer(cfg, train, val, tmp_path / "b")
    real = crashing.train_epoch
    calls = []

    def die_on_third():
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real()

    monkeypatch.setattr(crashing, "train_epoch", die_on_third)
    with pytest.raises(KeyboardInterrupt):
        crashing.fit()
    resumed = Trainer(cfg, train, val, tmp_path / "b")
    assert resumed.resume() and resumed.state.epoch == 2
    got = resumed.fit()
    assert len(got.history) == 4
    np.testing.assert_allclose([h["train_loss"] for h in got.history],
                               [h["train_loss"] for h in ref.history], rtol=1e-4)

    other = Trainer(TrainConfig(epochs=5, schedule="cosine", **TINY), train, val, tmp_path / "b")
    with pytest.raises(InputError, match="different settings"):
        other.resume()
    (tmp_path / "b" / LAST).write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="corrupt"):
        Trainer(cfg, train, val, tmp_path / "b").resume()


def test_unknown_backbone_suggests_close_names():
    with pytest.raises(InputError, match="did you mean .*resnet18"):
        check_backbone("resnet18x")


def test_pretrained_from_a_local_file_and_missing_file(tmp_path):
    import timm
    from safetensors.torch import save_file

    src = timm.create_model("test_convnext", pretrained=False)  # 1000 classes, RGB
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, tmp_path / "w.safetensors")
    cfg = TrainConfig(backbone="test_convnext", img_size=32, in_chans=1,
                      pretrained=str(tmp_path / "w.safetensors"))
    model = create_model(cfg)
    name = "stages.1.downsample.1.weight"
    assert torch.equal(model.state_dict()[name], src.state_dict()[name])
    assert model.get_classifier().out_features == 7
    with pytest.raises(ModelError, match="not found"):
        TrainConfig(backbone="test_convnext", pretrained=str(tmp_path / "none.pth"))


def test_missing_pretrained_file_message_names_the_backbone(tmp_path):
    with pytest.raises(ModelError) as e:
        TrainConfig(backbone="test_convnext", pretrained=str(tmp_path / "none.pth"))
    assert "file of test_convnext" in str(e.value) and "{" not in str(e.value)


def test_config_validation():
    with pytest.raises(InputError, match="schedule"):
        TrainConfig(schedule="step")
    with pytest.raises(InputError, match="in_chans"):
        TrainConfig(in_chans=2)
    with pytest.raises(TypeError):
        TrainConfig("resnet18")  # keyword arguments only


def test_cli_schedule_choices_are_the_loops_schedules():
    from train.cli import Schedule
    from train.loop import SCHEDULES

    assert [s.value for s in Schedule] == list(SCHEDULES)


def test_checkpoints_are_written_atomically(tmp_path):
    """Only the finished files are left in the run folder (no temp names)."""
    Trainer(TrainConfig(epochs=2, **TINY), make_set(32, side=32), make_set(14, 1, 32, "val"),
            tmp_path).fit()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([BEST, CONFIG, LAST])


def test_augment_keeps_shape_and_identity_when_off():
    x = torch.rand(5, 1, 12, 12)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(augment(x, g, shift=0, flip=False), x)
    y = augment(x, g, shift=2, flip=True)
    assert y.shape == x.shape
    # every output is a flipped-or-not crop of the reflect-padded input
    assert not torch.equal(y, x)


def test_metrics_on_known_answers():
    y = np.array([0, 0, 1, 1, 2])
    probs = np.eye(3)[[0, 1, 1, 1, 2]] * 0.9 + 0.1 / 3
    m = evaluate(probs, y, ("a", "b", "c"))
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["confusion"] == [[1, 1, 0], [0, 2, 0], [0, 0, 1]]
    assert m["per_class"]["a"]["recall"] == 0.5 and m["per_class"]["b"]["precision"] == 2 / 3
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 1) / 3)
    assert log_loss(np.eye(3)[[0, 1]], np.array([0, 1])) == pytest.approx(0, abs=1e-6)
    confident_right = np.eye(3)[[0, 1, 2]]
    assert ece(confident_right, np.array([0, 1, 2])) == pytest.approx(0)
    assert ece(confident_right, np.array([1, 2, 0])) == pytest.approx(1)


def _weights(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_soft_labels_are_the_targets_one_hot_equals_hard(tmp_path):
    """One-hot soft labels train exactly the model hard labels train; others train another."""
    from dataclasses import replace

    cfg = TrainConfig(epochs=1, **TINY)
    train = make_set(48, side=32)
    hard = Trainer(cfg, train, None).fit().model
    onehot = np.eye(7, dtype=np.float32)[train.labels]
    same = Trainer(cfg, replace(train, soft=onehot), None).fit().model
    torch.testing.assert_close(_weights(hard), _weights(same))
    mixed = 0.6 * onehot + 0.4 / 7
    other = Trainer(cfg, replace(train, soft=mixed.astype(np.float32)), None).fit().model
    assert not torch.allclose(_weights(hard), _weights(other))
    sub = replace(train, soft=onehot).split("train").subset(np.arange(5))
    assert sub.soft.shape == (5, 7) and (sub.soft.argmax(1) == sub.labels).all()


def test_a_checkpoint_resumes_on_another_device(tmp_path):
    """Where a run trained is not one of its settings: a run that torchrun ranks wrote
    (`cuda:<rank>`) is resumed by one process on `cuda`, or here on the CPU; any other setting
    that differs is still refused."""
    import json

    cfg = TrainConfig(epochs=2, **TINY)
    train, val = make_set(32, side=32), make_set(14, 1, 32, "val")
    Trainer(cfg, train, val, tmp_path).fit()
    ckpt = torch.load(tmp_path / LAST, weights_only=True)
    ckpt["config"] = json.dumps({**json.loads(ckpt["config"]), "device": "cuda:1"},
                                sort_keys=True)
    torch.save(ckpt, tmp_path / LAST)
    again = Trainer(cfg, train, val, tmp_path)
    assert again.resume() and again.state.epoch == 2
    from dataclasses import replace

    with pytest.raises(InputError, match="different settings"):
        Trainer(replace(cfg, lr=1e-3), train, val, tmp_path).resume()
