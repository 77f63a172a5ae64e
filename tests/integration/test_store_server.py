"""The store on a real MongoDB server (scripts/mongo-server.sh: the bundled mongod, standalone,
on a free port, its own data folder): the CLI works against it unchanged, two reviewers and a
tagging stage writing at once lose nothing, the server going down is a one-line error within
seconds, and a re-run after a restart resumes with nothing lost; run as a one-node replica set
(MONGO_REPLSET) it serves the CLI the same way. Every command runs in a child process (this test
process stays on the embedded database)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fixtures import fer_rows, write_fer_csv
from test_app import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "mongo-server.sh"


@pytest.fixture
def server(tmp_path, request):
    env = {**os.environ, "MONGO_DIR": str(tmp_path / "mongo"), "MONGO_PORT": str(free_port()),
           "PYTHON": sys.executable, **getattr(request, "param", {})}

    def script(cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(SCRIPT), cmd], env=env, capture_output=True,
                              text=True, timeout=120)

    started = script("start")
    if started.returncode != 0:
        pytest.skip(f"mongod could not start here: {started.stderr.strip()[-200:]}")
    uri = started.stdout.strip().splitlines()[-1].split("=", 1)[1].strip("'")
    client_env = {**os.environ, "FIFTYONE_DATABASE_URI": uri,
                  "FIFTYONE_DATABASE_NAME": f"server_{env['MONGO_PORT']}"}
    yield script, client_env
    script("stop")


def _curate(env, ws, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", "curate.cli", "--dataset", "shared",
                           "--workspace", str(ws), "--no-progress", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


_CHECK = textwrap.dedent("""
    from curate.core import schema, store
    ds = store.load_dataset("shared")
    logs = [len(x or []) for x in ds.values(schema.REVIEW_LOG)] if schema.REVIEW_LOG in \\
        ds.get_field_schema() else []
    print(len(ds), len(set(ds.values("source_id"))), sum(logs), ds.count_sample_tags())
""")

_REVIEWERS = textwrap.dedent("""
    import subprocess, sys
    from curate.core import store
    from curate.review import decide
    ds = store.load_dataset("shared")
    ids = ds.match({"split": "train"}).values("id")[:8]
    if sys.argv[1] == "tagger":
        for k in range(6):
            ds.select(ids).tag_samples(f"issue:t{k}")
    else:
        for k in range(6):
            decide(ds, ids, "keep" if k % 2 else "drop", reviewer=sys.argv[1])
""")


def test_the_cli_shares_a_server_and_survives_it_going_down(tmp_path, server):
    script, env = server
    assert "replicaSet" not in env["FIFTYONE_DATABASE_URI"]  # standalone by default
    ws = tmp_path / "ws"
    csv_path = write_fer_csv(tmp_path / "f.csv", fer_rows(60))
    r = _curate(env, ws, "ingest", "fer2013", str(csv_path))
    assert r.returncode == 0, r.stderr[-2000:]
    # two reviewers and a stage tagging the same samples at once, three processes
    procs = [subprocess.Popen([sys.executable, "-c", _REVIEWERS, who], env=env,
                              stderr=subprocess.PIPE) for who in ("ana", "ben", "tagger")]
    assert all(p.wait(timeout=300) == 0 for p in procs), [p.stderr.read() for p in procs]
    out = subprocess.run([sys.executable, "-c", _CHECK], env=env, capture_output=True,
                         text=True, timeout=120).stdout.strip().splitlines()[-1].split(maxsplit=3)
    assert out[:3] == ["60", "60", str(8 * 12)]  # every decision of both reviewers is logged
    assert all(f"'issue:t{k}': 8" in out[3] for k in range(6))  # and every tag is there
    # the server goes down: the next command says so in one line, within seconds
    script("stop")
    t0 = time.time()
    r = _curate(env, ws, "status", timeout=120)
    assert r.returncode == 3, r.stdout + r.stderr
    assert time.time() - t0 < 30
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.startswith("error")]
    assert len(lines) == 1 and "FIFTYONE_DATABASE_URI" in lines[0], r.stderr
    # back up: a re-run of the ingest finds everything and adds nothing twice
    assert script("start").returncode == 0
    r = _curate(env, ws, "ingest", "fer2013", str(csv_path))
    assert r.returncode == 0 and "added 0, already present 60" in r.stdout, r.stdout


@pytest.mark.parametrize("server", [{"MONGO_REPLSET": "rs0"}], indirect=True)
def test_the_server_as_a_one_node_replica_set(tmp_path, server):
    script, env = server
    assert "replicaSet=rs0" in env["FIFTYONE_DATABASE_URI"]
    port = env["FIFTYONE_DATABASE_URI"].split(":")[2].split("/")[0]
    assert script("status").stdout.startswith(f"running on port {port}: primary")  # elected
    csv_path = write_fer_csv(tmp_path / "f.csv", fer_rows(20))
    r = _curate(env, tmp_path / "ws", "ingest", "fer2013", str(csv_path))
    assert r.returncode == 0 and "added 20" in r.stdout, r.stderr[-2000:]
    assert script("start").stdout.startswith("mongo-server.sh: already running")
