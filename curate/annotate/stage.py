"""`curate annotate`: choose the faces to ask about and write them as a named task.

The candidates are the real samples of the chosen splits with no answer yet and in no other
task. A `holdout` share of the budget, drawn at random, only judges (`ask_role` = judge: the
label audit's calibration never fits on its answers); the rest is chosen by the strategy
(`curate.annotate.strategies`; role calibrate). The task is written per sample atomically
(`ask_task`, `ask_role`, the tag `ask:<task>`) and recorded in the run history: a re-run of the
same command writes nothing new, and one interrupted mid-write completes (the task's own
samples stay candidates, so the same seed chooses them again).

With `--backend labelstudio` the task also goes to a Label Studio project (a re-run imports only
the faces it lacks); `--load` (`run_load`) brings the answers given there back into the answers
store (`curate.annotate.labelstudio`).
"""

from __future__ import annotations

import csv
import io
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from curate.annotate.config import LABELSTUDIO, AnnotateConfig
from curate.annotate.strategies import choose
from curate.core import runs, schema, store
from curate.core.errors import InputError, StoreError
from curate.core.taxonomy import CLASS_INDEX, CLASSES
from curate.core.votes import latest_per_annotator
from curate.core.workspace import write_text_atomic
from curate.votes.answers import annotator_matrix

if TYPE_CHECKING:
    from curate.annotate.labelstudio import LoadResult, SendResult

EXPORT_COLUMNS = ("sample_id", "source_id", "filepath", "task", "role")
GIVEN = "\x00given"  # the given label, one more annotator for ActiveLab (no real name clashes)


@dataclass
class AnnotateResult:
    task: str
    calibrate: list[str] = field(default_factory=list)
    judge: list[str] = field(default_factory=list)
    candidates: int = 0
    written: int = 0  # samples whose task fields were written by this run
    existing: bool = False  # the task was complete already: nothing chosen, nothing written
    export: Path | None = None
    sent: SendResult | None = None  # --backend labelstudio: the project and what went there
    seconds: float = 0.0


def run_annotate(cfg: AnnotateConfig) -> AnnotateResult:
    """Choose and write the task (or find it complete); export its table when asked; send it
    to Label Studio with that backend."""
    t0 = time.perf_counter()
    ds = store.load_dataset(cfg.dataset)
    result = AnnotateResult(task=cfg.task_name)
    done = _recorded(ds, cfg)
    if done:
        result.existing = True
        result.calibrate, result.judge = _members(ds, result.task)
    else:
        _choose_and_write(ds, cfg, result)
    if cfg.export is not None:
        result.export = export_task(ds, result.task, cfg.export)
    if cfg.backend == LABELSTUDIO:
        result.sent = _send(ds, cfg, result.task)
    result.seconds = round(time.perf_counter() - t0, 3)
    return result


def _send(ds: Any, cfg: AnnotateConfig, task: str) -> SendResult:
    from curate.annotate import labelstudio

    sent = labelstudio.send_task(ds, task, labelstudio.server_from_env(),
                                 annotators=cfg.annotators, prefill=cfg.prefill)
    settings = {"action": "send", "task": task, "annotators": cfg.annotators,
                "prefill": cfg.prefill, "project": sent.project}
    runs.record(ds, runs.ANNOTATE_LABELSTUDIO, config=settings, fp=runs.fingerprint(settings),
                counts={"sent": sent.sent, "already": sent.already}, seconds=sent.seconds)
    return sent


def run_load(cfg: AnnotateConfig) -> list[LoadResult]:
    """The answers of `cfg.task` (default: every task of the dataset that has a project on
    the server) from Label Studio into the answers store."""
    from curate.annotate import labelstudio

    ds = store.load_dataset(cfg.dataset)
    server = labelstudio.server_from_env()
    client = labelstudio.Client(server)
    tasks = [cfg.task] if cfg.task else labelstudio.sent_tasks(ds, client)
    if not tasks:
        raise InputError(f"no task of dataset {cfg.dataset!r} has a project on {server.url}: "
                         "send one with `curate annotate --backend labelstudio --budget N`")
    names = labelstudio.annotator_names(client)
    out = []
    for task in tasks:
        r = labelstudio.load_task(ds, task, server, client, names)
        settings = {"action": "load", "task": task, "project": r.project}
        runs.record(ds, runs.ANNOTATE_LABELSTUDIO, config=settings, fp=runs.fingerprint(settings),
                    counts={"annotations": r.annotations, "added": r.added,
                            "deleted": r.deleted, "skipped": r.skipped}, seconds=r.seconds)
        out.append(r)
    return out


def _recorded(ds: Any, cfg: AnnotateConfig) -> bool:
    """Whether this task was written completely before (InputError: with other settings)."""
    for entry in runs.history(ds).get(runs.ANNOTATE, []):
        run = runs.Run(runs.ANNOTATE, entry)
        if run.config.get("task") != cfg.task_name:
            continue
        settings = {k: v for k, v in run.config.items() if k != "task"}
        if settings != cfg.settings():
            raise InputError(f"task {cfg.task_name!r} was chosen with other settings "
                             f"({settings}); pass another --task")
        return True
    return False


def _choose_and_write(ds: Any, cfg: AnnotateConfig, result: AnnotateResult) -> None:
    assert cfg.budget is not None  # AnnotateConfig: only --load has no budget
    t0 = time.perf_counter()
    pool = _candidates(ds, cfg)
    result.candidates = len(pool["id"])
    if not result.candidates:
        raise StoreError(f"no candidates: every real sample of {', '.join(cfg.splits)} has an "
                         "answer or is in another task")
    extra = _strategy_inputs(ds, cfg, pool)
    cal, judge = choose(cfg.strategy, result.candidates, cfg.budget, cfg.holdout, cfg.seed,
                        **extra)
    ids = np.asarray(pool["id"])
    result.calibrate, result.judge = ids[cal].tolist(), ids[judge].tolist()
    result.written = write_task(ds, result.task, result.calibrate, result.judge, pool)
    runs.record(ds, runs.ANNOTATE, config={"task": result.task, **cfg.settings()},
                fp=runs.fingerprint({"task": result.task, **cfg.settings()}),
                counts={"candidates": result.candidates, "calibrate": len(result.calibrate),
                        "judge": len(result.judge), "written": result.written},
                seconds=time.perf_counter() - t0)


def _candidates(ds: Any, cfg: AnnotateConfig) -> dict[str, list[Any]]:
    """The real samples of the splits with no answer and in no task but this one, in id order,
    with what the strategies read."""
    have = ds.get_field_schema()
    view = ds.match(schema.real_in_splits(cfg.splits))
    if schema.ANSWERS in have:
        view = view.match({"$or": [{schema.ANSWERS: {"$exists": False}},
                                   {schema.ANSWERS: None}, {schema.ANSWERS: {"$size": 0}}]})
    if schema.ASK_TASK in have:
        view = view.match({schema.ASK_TASK: {"$in": [None, cfg.task_name]}})
    names = ["id", schema.LABEL_PATH, schema.ASK_TASK, schema.ASK_ROLE,
             schema.SUGGESTED_LABEL, schema.LABEL_ERROR_PROB, schema.OOF]
    present = [n for n in names if n.split(".")[0] in have or n == "id"]
    cols = dict(zip(present, view.values(present), strict=True))
    n = len(cols["id"])
    out = {k: cols.get(k, [None] * n) for k in names}
    order = np.argsort(np.asarray(out["id"], dtype=object), kind="stable")
    return {k: [v[i] for i in order] for k, v in out.items()}


def _strategy_inputs(ds: Any, cfg: AnnotateConfig, pool: dict[str, list[Any]]
                     ) -> dict[str, np.ndarray]:
    """The arrays the strategy needs; InputError naming the missing step."""
    if cfg.strategy == "random":
        return {}
    need = {"stratified": (schema.SUGGESTED_LABEL, schema.LABEL_ERROR_PROB),
            "activelab": (schema.OOF,)}[cfg.strategy]
    missing = [f for f in need if f not in ds.get_field_schema()]
    if missing:
        raise InputError(f"--strategy {cfg.strategy} reads {', '.join(missing)}: run "
                         "`curate clean --checks labels` first (or use --strategy random)")
    given = np.array([CLASS_INDEX.get(c, -1) for c in pool[schema.LABEL_PATH]])
    if cfg.strategy == "stratified":
        # a Classification (as `clean` writes it) or its label
        sugg = [getattr(s, "label", s) for s in pool[schema.SUGGESTED_LABEL]]
        suggested = np.array([CLASS_INDEX.get(s, g) if s else g for s, g in zip(sugg, given,
                                                                                strict=True)])
        p_wrong = np.array([p if p is not None else 0.0 for p in pool[schema.LABEL_ERROR_PROB]])
        return {"given": given, "suggested": suggested, "p_wrong": p_wrong}
    return {"scores": activelab_scores(ds, cfg, given, pool[schema.OOF])}


def activelab_scores(ds: Any, cfg: AnnotateConfig, given: np.ndarray,
                     oof: list[Any]) -> np.ndarray:
    """cleanlab's ActiveLab score of each candidate (low: ask first). The given label is one
    annotator on every face, beside the stored answers of the answered faces of the splits
    (which inform the annotators' weights); candidates without out-of-fold probabilities get
    uniform ones."""
    from cleanlab.multiannotator import get_active_learning_scores

    answered = ds.match(schema.real_in_splits(cfg.splits)).exists(schema.ANSWERS) \
        if schema.ANSWERS in ds.get_field_schema() else None
    faces: list[dict[str, str]] = [{GIVEN: CLASSES[g]} for g in given if g >= 0]
    probs = [_probs(p) for p, g in zip(oof, given, strict=True) if g >= 0]
    if answered is not None and len(answered):
        for ans, label, p in zip(*answered.values([schema.ANSWERS, schema.LABEL_PATH,
                                                   schema.OOF]), strict=True):
            face = {w: a["label"] for w, a in latest_per_annotator(ans).items()}
            faces.append({GIVEN: label, **face} if label in CLASS_INDEX else face)
            probs.append(_probs(p))
    who = sorted({w for f in faces for w in f})
    matrix = annotator_matrix(faces, who)
    keep = ~np.isnan(matrix).all(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores, _ = get_active_learning_scores(matrix[keep], np.asarray(probs)[keep])
    full = np.ones(len(faces))
    full[keep] = scores
    out = np.ones(len(given))  # a candidate without a class label: asked last
    out[given >= 0] = full[:int((given >= 0).sum())]
    return out


def _probs(p: Any) -> np.ndarray:
    arr = np.asarray(p if p is not None else np.ones(len(CLASSES)), dtype=np.float64)
    return arr / arr.sum()


def write_task(ds: Any, task: str, calibrate: list[str], judge: list[str],
               pool: dict[str, list[Any]]) -> int:
    """Each chosen sample's task, role and tag, one atomic update each (only where they are
    not already so); returns how many were written."""
    f = store.fo()
    for name in (schema.ASK_TASK, schema.ASK_ROLE):
        if name not in ds.get_field_schema():
            ds.add_sample_field(name, f.StringField)
    now = dict(zip(pool["id"], zip(pool[schema.ASK_TASK], pool[schema.ASK_ROLE],
                                   strict=True), strict=True))
    tag = schema.ask_tag(task)
    updates = {}
    for role, ids in ((schema.CALIBRATE, calibrate), (schema.JUDGE, judge)):
        for i in ids:
            if now.get(i) != (task, role):
                updates[i] = [{"$set": {
                    schema.ASK_TASK: {"$literal": task}, schema.ASK_ROLE: {"$literal": role},
                    schema.TAGS: {"$setUnion": [{"$ifNull": ["$tags", []]}, [tag]]}}}]
    return store.update_atomically(ds, updates) if updates else 0


def _members(ds: Any, task: str) -> tuple[list[str], list[str]]:
    ids, roles = ds.match({schema.ASK_TASK: task}).values(["id", schema.ASK_ROLE])
    return ([i for i, r in zip(ids, roles, strict=True) if r == schema.CALIBRATE],
            [i for i, r in zip(ids, roles, strict=True) if r == schema.JUDGE])


def export_task(ds: Any, task: str, path: Path) -> Path:
    """The task's table (EXPORT_COLUMNS) for any outside tool, written atomically; its answers
    come back through `curate votes import`."""
    view = ds.match({schema.ASK_TASK: task})
    cols = view.values(["id", schema.SOURCE_ID, schema.FILEPATH, schema.ASK_ROLE])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(EXPORT_COLUMNS)
    for sid, source_id, filepath, role in sorted(zip(*cols, strict=True)):
        w.writerow([sid, source_id, filepath, task, role])
    return write_text_atomic(buf.getvalue(), path)
