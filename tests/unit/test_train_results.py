"""Typed results keep the JSON files' shape; CLI choices come from the library's registries."""

from __future__ import annotations

from collections import Counter

import pytest

from curate.core import schema
from curate.core.errors import CurateError

METRICS_KEYS = ["source", "config", "test_key", "data_key", "counts", "soft_targets", "history",
                "best_epoch", "stopped_early", "test", "cost"]  # metrics.json, in file order


def test_train_result_is_metrics_json_and_reads_back():
    from train.run import TrainResult

    r = TrainResult(source="exp", config={"backbone": "x"}, test_key="t", data_key="d",
                    counts={"train": {"happy": 1}}, soft_targets=2, history=[{"epoch": 1}],
                    best_epoch=1, stopped_early=False, test={"n": 1, "accuracy": 1.0},
                    cost={"train_seconds": 1.0})
    d = r.to_dict()
    assert list(d) == METRICS_KEYS
    assert TrainResult.from_dict({**d, "from_a_newer_version": 1}) == r


def test_noise_verdict_and_summary_rows():
    from train.compare import Verdict, noise_verdict, summarise

    assert noise_verdict([0.5], [0.6]) == Verdict(diff=pytest.approx(0.1), se=None,
                                                  significant=None)
    v = noise_verdict([0.50, 0.52], [0.70, 0.72])
    assert v.significant is True and v.se == pytest.approx(0.01414, rel=1e-3)
    def run(variant, seed, acc, agree):
        scores = {"test": {"original": {"all": {"n": 10, "accuracy": acc, "macro_f1": acc}},
                           "crowd_agreement": {"all": {"n": 8, "agreement": agree}}}}
        return {"backbone": "b", "variant": variant, "seed": seed, "scores": scores,
                "test": {"ece": 0.1}, "cost": {"train_seconds": 1.0}}

    runs = [run(n, s, a0 + 0.02 * s, g0 + 0.01 * s)
            for n, a0, g0 in (("raw", 0.5, 0.4), ("curated", 0.7, 0.41), ("raw+gce", 0.6, 0.45),
                              ("raw+scn", 0.55, 0.5)) for s in range(2)]
    out = summarise(runs, ["raw", "curated", "raw+gce", "raw+scn"], ("b",))
    assert [r["variant"] for r in out["table"]] == ["raw", "curated", "raw+gce", "raw+scn"]
    # only the metrics every run has; the crowd's first
    assert list(out["table"][0]["scores"]) == ["crowd agreement", "original accuracy",
                                               "original macro-F1"]
    assert out["table"][1]["scores"]["original accuracy"] == pytest.approx((0.71, 0.01414),
                                                                            rel=1e-3)
    assert set(out["verdicts"][0]) == {"backbone", "metric", "baseline", "variant", "against",
                                       "diff", "se", "significant"}
    best = {v["metric"]: v for v in out["verdicts"] if v["against"] == "best robust"}
    assert set(best) == {"crowd agreement", "original accuracy", "original macro-F1"}
    assert best["crowd agreement"]["baseline"] == "raw+scn"  # the best robust one per metric
    assert best["original accuracy"]["baseline"] == "raw+gce"
    assert best["crowd agreement"]["variant"] == "curated"  # robust variants are not re-judged
    assert best["crowd agreement"]["diff"] == pytest.approx(0.41 - 0.5)


def test_cli_choices_come_from_the_registries():
    # synth's --family/--plan and compare's --profile: test_stage_configs (from their configs)
    from train.cli import LabelField

    assert [f.value for f in LabelField] == [schema.LABEL, schema.FERPLUS_LABEL, schema.ORIG_LABEL]


def test_nothing_admitted_is_a_curate_error_with_the_reasons():
    from augment.synth.stage import ClassTally, SynthReport

    report = SynthReport("fer", {}, {}, rejected_dir="rej")
    assert report.nothing_admitted() is None  # nothing generated: nothing to report
    report.classes["fear"] = ClassTally(target=2, attempted=2,
                                        reasons=Counter(no_face=2, blacked_out=1))
    err = report.nothing_admitted()
    assert isinstance(err, CurateError) and err.exit_code == 1
    assert str(err) == ("none of the 2 generated images passed the gate (no_face 2, "
                        "blacked_out 1); see the reasons next to each image in rej")
    report.classes["fear"].admitted = 1
    assert report.nothing_admitted() is None
