"""The reports open with what people's answers say (train/report_answers.py): the comparison's
report.md and the pipeline's, from a comparison summary; the one line where no answers judge."""

from __future__ import annotations

from types import SimpleNamespace

from train.report_answers import HEADING, NO_ANSWERS, WHY_SIGN, answers_section


def _row(variant: str, agree: float, acc: float, orig: float) -> dict:
    return {"backbone": "resnet10t", "variant": variant, "seeds": 3, "train_seconds": 10.0,
            "ece": (0.05, 0.01),
            "scores": {"crowd agreement": (agree, 0.004), "crowd majority accuracy": (acc, 0.006),
                       "original accuracy": (orig, 0.005)}}


def _verdict(variant: str, base: str, metric: str, diff: float, se: float,
             against: str = "baseline") -> dict:
    return {"backbone": "resnet10t", "variant": variant, "baseline": base, "metric": metric,
            "against": against, "diff": diff, "se": se, "significant": abs(diff) > 2 * se}


def judged_summary() -> dict:
    """A main job's shape: test with the source's labels only, val judged by held-out answers."""
    test = {"truth": {"split": "test", "n": 3589, "voted": 0, "majority": 0, "left_out": 0,
                      "with_train_copy": 12, "calibrating": 0},
            "table": [{**r, "scores": {"original accuracy": r["scores"]["original accuracy"]}}
                      for r in (_row("raw", 0, 0, 0.595), _row("curated", 0, 0, 0.546))],
            "verdicts": [_verdict("curated", "raw", "original accuracy", -0.049, 0.004)]}
    answers = {"faces": 1650, "answers": 16560, "via": {"app": 60, "ferplus": 16500},
               "annotators": 3}
    val = {"truth": {"split": "val", "n": 3400, "voted": 1650, "majority": 1500, "left_out": 150,
                     "with_train_copy": 5, "calibrating": 1772, "answers": answers},
           "table": [_row("raw", 0.566, 0.647, 0.6), _row("curated", 0.652, 0.760, 0.58),
                     _row("raw+smooth", 0.565, 0.646, 0.6)],
           "verdicts": [_verdict("curated", "raw", "crowd agreement", 0.087, 0.004),
                        _verdict("curated", "raw", "crowd majority accuracy", 0.114, 0.0055),
                        _verdict("raw+smooth", "raw", "crowd agreement", -0.001, 0.004),
                        _verdict("curated", "raw+smooth", "crowd agreement", 0.088, 0.004,
                                 "best robust")]}
    return {"splits": [test, val]}


def test_the_section_says_who_judges_and_curated_vs_raw_on_their_answers():
    md = "\n".join(answers_section(judged_summary()))
    print(md)
    assert md.startswith(HEADING)
    assert "**1,650 faces' answers judge**, on the val split" in md
    assert "16,560 answers, by origin app 60, ferplus 16,500 (FER+'s anonymous crowd); 3 named " \
        "annotators. None" in md
    assert "None of them was used to curate" in md and "the 1,772 faces whose answers " \
        "calibrated the label audit" in md
    assert "| resnet10t | curated | 3 | 65.2 ± 0.4 | 76.0 ± 0.6 |" in md
    assert "- **curated − raw** (resnet10t): crowd agreement +8.7 (2 SE 0.8, beyond noise); " \
        "crowd majority accuracy +11.4 (2 SE 1.1, beyond noise)." in md
    assert "- **curated − raw+smooth** (resnet10t, the best robust baseline): crowd " \
        "agreement +8.8" in md
    assert "original accuracy, 3,589 faces): curated − raw -4.9 (2 SE 0.8, beyond noise). " \
        + WHY_SIGN in md
    assert md.count(WHY_SIGN) == 1
    assert md.index("faces' answers judge") < md.index("curated − raw") < md.index(WHY_SIGN)


def test_no_answers_is_one_line_with_how_to_get_some():
    summary = judged_summary()
    del summary["splits"][1]
    lines = answers_section(summary)
    assert lines == [HEADING, "", NO_ANSWERS.format(calibrating="")]
    assert "curate annotate --budget 400" in lines[2] and "curate votes import" in lines[2]
    # answers that all calibrated the audit judge nothing: said, with their count
    summary["splits"][0]["truth"]["calibrating"] = 40
    assert "(40 faces' answers calibrated the label audit, so cannot judge)" in \
        answers_section(summary)[2]
    # a comparison from before the answers were counted: the faces, without who gave them
    old = judged_summary()
    del old["splits"][1]["truth"]["answers"]
    assert "who gave them is not recorded" in "\n".join(answers_section(old))


def test_the_comparison_report_opens_with_the_section(tmp_path):
    from train.report import SECTIONS, _markdown

    cost = {"train_seconds": 10, "images_per_s": 1, "params": 1, "inference_ms_per_image": 1}
    results = [{"variant": v, "backbone": "resnet10t", "seed": 0, "cost": cost}
               for v in ("raw", "curated")]
    md = _markdown(results, judged_summary(), 60.0, {"f1": "a.png", "confusion": "b.png",
                                                     "curves": "c.png"})
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    assert headings[0] == HEADING and headings[1] == "## Summary"
    assert [h.removeprefix("## ") for h in headings] == list(SECTIONS)
    assert md.index("+8.7 (2 SE 0.8") < md.index("## Summary")
    # everything after it keeps its content: the per-split lines follow
    assert "**A dev figure, not the test claim**" in md.split("## Summary")[1]


def test_the_pipeline_report_opens_with_the_section():
    from curate.pipeline.report import _answers_section

    def result(*outcomes):  # noqa: ANN002, ANN202
        return SimpleNamespace(outcomes=list(outcomes))

    ran = SimpleNamespace(stage="compare", status="ran",
                          summary={"summary": judged_summary(), "markdown": "r.md"})
    lines = _answers_section(result(ran))
    assert lines[0] == HEADING and "+11.4 (2 SE 1.1" in "\n".join(lines)
    skipped = SimpleNamespace(stage="compare", status="skipped", summary={})
    assert _answers_section(result(skipped))[:3] == [
        HEADING, "", "- no comparison ran (`[compare]`), so no answers judged curated against raw"]
