"""`curate app` starts the real FiftyOne App server; we fetch its page and stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from fixtures import fer_rows, write_fer_csv
from typer.testing import CliRunner

from curate.cli import app
from curate.core import store
from curate.core.issues import ensure_saved_views


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_app_serves_the_dataset_and_stops(tmp_path, dataset_name):
    csv_path = write_fer_csv(tmp_path / "f.csv", fer_rows(6))
    r = CliRunner().invoke(app, ["--dataset", dataset_name, "--workspace", str(tmp_path / "ws"),
                                 "--no-progress", "ingest", "fer2013", str(csv_path)])
    assert r.exit_code == 0, r.output
    assert ensure_saved_views(store.load_dataset(dataset_name)) == ["split:test", "split:train",
                                                                    "split:val"]
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "curate.cli", "--dataset", dataset_name, "app", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ.copy(),
        # a test run started in the background (`cmd &`) inherits SIGINT ignored; a user's
        # terminal does not: give the App the terminal's default so Ctrl-C reaches it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        body, deadline = "", time.time() + 240  # the App takes ~60 s to start on a busy 2-core box
        while time.time() < deadline and not body:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                    body = resp.read().decode()
            except OSError:
                time.sleep(1)
        assert "<html" in body.lower() and "fiftyone" in body.lower()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out = proc.communicate(timeout=120)[0].decode()
        except subprocess.TimeoutExpired:
            proc.kill()
            out = proc.communicate()[0].decode()
            raise AssertionError(f"the App did not stop within 120 s of Ctrl-C:\n{out[-2000:]}") from None
    assert proc.returncode == 0, out
    assert "App stopped" in out


def test_a_port_held_by_another_program_is_a_one_line_error(tmp_path, dataset_name):
    """FiftyOne alone would retry connecting to it every 10 s, forever."""
    import http.server
    import threading

    csv_path = write_fer_csv(tmp_path / "f.csv", fer_rows(3))
    cli = ["--dataset", dataset_name, "--workspace", str(tmp_path / "ws"), "--no-progress"]
    assert CliRunner().invoke(app, [*cli, "ingest", "fer2013", str(csv_path)]).exit_code == 0
    other = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        port = other.server_address[1]
        r = CliRunner().invoke(app, [*cli, "app", "--port", str(port)])
    finally:
        other.shutdown()
    assert r.exit_code == 2 and f"port {port} on 127.0.0.1 is in use by another program" in r.output
