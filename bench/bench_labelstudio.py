"""Benchmark of the Label Studio round trip: 400 tasks out, 400 answers back, seconds each way.

    .venv/bin/python bench/bench_labelstudio.py [--faces 600 --budget 400]

Makes a small FER-2013-like dataset (tests/fixtures.py: synthetic 48x48 faces, ingested as
`curate ingest fer2013` does) in a temporary workspace, starts a Label Studio server of its own
(scripts/label-studio.sh: a free port, a temporary data dir; the shared .labelstudio/venv) unless
LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY name one, then times:

1. out: `curate annotate --backend labelstudio --budget N --strategy random` (choose + write
   the task, then the project, its local storage and N tasks imported), and the send alone;
2. the answers: one annotation per task posted through the REST API as the local user (what a
   team does in the browser; timed only to show it is not the bottleneck);
3. back: `curate annotate --load` (every annotation read, N answers written through the
   answers store's writer), then a re-load (adds nothing).
The dataset and the server are removed at the end.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
SCRIPT = ROOT / "scripts" / "label-studio.sh"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(base: Path) -> dict[str, str] | None:
    """A server of this run's own; the env to stop it (None: LABEL_STUDIO_URL is set)."""
    if os.environ.get("LABEL_STUDIO_URL"):
        return None
    env = {**os.environ, "LABEL_STUDIO_HOME": str(base / "home"),
           "LABEL_STUDIO_PORT": str(_free_port()), "LABEL_STUDIO_MEDIA_ROOT": str(base)}
    t0 = time.perf_counter()
    subprocess.run(["bash", str(SCRIPT), "start"], env=env, check=True)
    print(f"server started in {time.perf_counter() - t0:.0f} s")
    os.environ["LABEL_STUDIO_HOME"] = env["LABEL_STUDIO_HOME"]
    os.environ.pop("LABEL_STUDIO_PORT", None)
    return env


def _dataset(base: Path, name: str, n: int) -> None:
    from fixtures import fer_rows, write_fer_csv

    csv_path = write_fer_csv(base / "f.csv", fer_rows(n))
    subprocess.run([sys.executable, "-m", "curate.cli", "--dataset", name, "--workspace",
                    str(base / "ws"), "--no-progress", "ingest", "fer2013", str(csv_path)],
                   check=True, stdout=subprocess.DEVNULL)


def _answer_all(server, project: int) -> tuple[int, float]:
    """One annotation per task of the project, posted as the server's token user."""
    import requests

    from curate.annotate import labelstudio as ls

    tasks = ls.project_tasks(ls.Client(server), project)
    s = requests.Session()
    s.headers["Authorization"] = f"Token {server.key}"
    t0 = time.perf_counter()
    for k, t in enumerate(tasks):
        shown = ls.CHOICES[k % len(ls.CHOICES)][0]
        result = [{"from_name": ls.FROM_NAME, "to_name": ls.TO_NAME, "type": "choices",
                   "value": {"choices": [shown]}}]
        r = s.post(f"{server.url}/api/tasks/{t['id']}/annotations/", json={"result": result},
                   timeout=60)
        r.raise_for_status()
    return len(tasks), time.perf_counter() - t0


def run(faces: int, budget: int) -> None:
    from curate.annotate import labelstudio as ls
    from curate.annotate.config import LABELSTUDIO, AnnotateConfig
    from curate.annotate.stage import run_annotate, run_load
    from curate.core import store
    from curate.core.taxonomy import SPLITS

    base = Path(tempfile.mkdtemp(prefix="bench_ls_"))
    name = f"bench_ls_{uuid.uuid4().hex[:6]}"
    env = _start_server(base)
    try:
        _dataset(base, name, faces)
        cfg = AnnotateConfig(budget=budget, strategy="random", splits=SPLITS, task="bench",
                             backend=LABELSTUDIO, dataset=name, workspace=base / "ws")
        t0 = time.perf_counter()
        out = run_annotate(cfg)
        t_out = time.perf_counter() - t0
        assert out.sent is not None and out.sent.sent == budget, out.sent
        n, t_answer = _answer_all(ls.server_from_env(), out.sent.project)
        load = AnnotateConfig(load=True, task="bench", dataset=name, workspace=base / "ws")
        t0 = time.perf_counter()
        back = run_load(load)[0]
        t_back = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = run_load(load)[0]
        t_again = time.perf_counter() - t0
        assert back.added == budget and again.added == 0, (back, again)
        print(f"\n| step ({budget} faces, {faces}-face dataset) | seconds |\n|---|---:|")
        print(f"| out: choose + write the task + send (`--backend labelstudio`) | {t_out:.1f} |")
        print(f"| of which the send (project, storage, {budget} tasks imported) | "
              f"{out.sent.seconds:.1f} |")
        print(f"| {n} annotations posted through the REST API (the team's side) | "
              f"{t_answer:.1f} |")
        print(f"| back: `--load`, {back.annotations} annotations -> {back.added} answers | "
              f"{t_back:.1f} |")
        print(f"| re-load (0 added) | {t_again:.1f} |")
    finally:
        if store.fo().dataset_exists(name):
            store.fo().delete_dataset(name)
        if env is not None:
            subprocess.run(["bash", str(SCRIPT), "stop"], env=env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faces", type=int, default=600, help="faces in the synthetic dataset")
    ap.add_argument("--budget", type=int, default=400, help="faces sent and answered")
    args = ap.parse_args()
    run(args.faces, args.budget)


if __name__ == "__main__":
    main()
