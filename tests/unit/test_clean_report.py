"""The clean report's numbers for a reader and its example captions (pure, no DB)."""

from __future__ import annotations

from curate.clean import report


def test_numbers_are_formatted_for_a_reader():
    assert report.fmt("oof_accuracy", 0.5917973010876679) == "59.2%"
    assert report.fmt("ferplus_given_agrees", 0.5) == "50.0%"
    assert report.fmt("oof_seconds", 123.456) == "123 s"
    assert report.fmt("log_loss", 1.23456789) == "1.235"
    assert report.fmt("oof_reused", True) == "yes" and report.fmt("warning", None) == "-"
    assert report.fmt("checked", 600) == "600"


def test_stats_render_as_tables_not_raw_dicts():
    lines = report.stat_lines({"checked": 600, "test_accuracy": 0.61234,
                               "outliers_per_class": {"angry": 3, "happy": 1}, "tagged": {}})
    text = "\n".join(lines)
    assert "| checked | 600 |" in text and "| test accuracy | 61.2% |" in text
    assert "{" not in text and "| angry | happy |" in text and "| 3 | 1 |" in text


def test_label_flags_per_class_are_one_table_with_estimated_and_measured_precision():
    stats = {"flagged": 4, "estimated_precision": 0.81, "ferplus_measured_precision": 0.75,
             "estimated_errors": 9, "flagged_per_class": {"angry": 3, "happy": 1},
             "estimated_precision_per_class": {"angry": 0.8, "happy": 0.84},
             "ferplus_measured_precision_per_class": {"angry": 2 / 3, "happy": None},
             "estimated_errors_per_class": {"angry": 6, "happy": 3}}
    text = "\n".join(report.stat_lines(stats))
    assert "{" not in text
    assert "| class | flags | estimated precision | measured precision (voted rows) |" in text
    assert "| angry | 3 | 80.0% | 66.7% | 6 |" in text and "| happy | 1 | 84.0% | - | 3 |" in text
    assert "| all | 4 | 81.0% | 75.0% | 9 |" in text


def test_example_captions_show_given_and_suggested_labels():
    s = report._Samples(["train", "train"], ["happy", "sad"], ["a.png", "b.png"],
                        ["sad", None])
    assert report._caption(s, 0) == "happy -> sad" and report._caption(s, 1) == "sad"


def test_the_pipeline_report_carries_the_label_checks_warning():
    from curate.pipeline.report import _label_lines

    counts = {"oof_accuracy": 0.17, "flagged": 0, "checked": 400, "flagged_per_class": {},
              "log_loss": 1.9, "folds": 2, "flags_withheld": 379,
              "warning": "out-of-fold accuracy 17.0% is below 45%: ... (379 withheld)"}
    lines = _label_lines(counts)
    assert lines[0].startswith("- label issues: 0 of 400")
    assert lines[1] == "- **out-of-fold accuracy 17.0% is below 45%: ... (379 withheld)**"
    assert not any("below 45%" in line for line in _label_lines({**counts, "warning": None}))
