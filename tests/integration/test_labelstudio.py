"""`curate annotate --backend labelstudio` and `--load` against a real Label Studio server that
this module starts (scripts/label-studio.sh, a free port, a tmp data dir): 5 faces sent, answered
through Label Studio's REST API as 2 users (the second signs up through the organisation's
invite link, each posts with their own token), loaded back as 10 answers; a re-load adds none;
the same annotator twice keeps both; a task deleted on the server is reported. The labelling
page of one task is kept as a screenshot in test-artefacts/. Skips (one line) only when Label
Studio cannot be installed."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
import typer
from review_fixtures import audited_dataset
from typer.testing import CliRunner

from curate.annotate import commands as annotate_commands
from curate.annotate import labelstudio as ls
from curate.core import schema, store
from curate.core.clikit import global_options
from curate.core.taxonomy import FERPLUS_COLUMNS

requests = pytest.importorskip("requests")

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "label-studio.sh"
ARTEFACTS = Path(os.environ.get("TEST_ARTEFACTS", ROOT / "test-artefacts"))
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
                "--disable-dev-shm-usage", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run")

runner = CliRunner()
app = typer.Typer(pretty_exceptions_enable=False)
app.callback()(global_options)
annotate_commands.register(app)


def cli(name: str, ws: Path, *args: str, env: dict[str, str] | None = None):
    r = runner.invoke(app, ["--dataset", name, "--workspace", str(ws), "--no-progress", *args],
                      env=env)
    r.text = " ".join(r.output.split())
    return r


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A Label Studio server of this module's own (its venv shared: .labelstudio/venv)."""
    install = subprocess.run(["bash", str(SCRIPT), "install"], capture_output=True, text=True,
                             timeout=3600)
    if install.returncode != 0:
        pytest.skip("Label Studio cannot be installed: "
                    + (install.stderr.strip().splitlines() or ["?"])[-1])
    base = tmp_path_factory.mktemp("ls")
    env = {**os.environ, "LABEL_STUDIO_HOME": str(base / "home"),
           "LABEL_STUDIO_PORT": str(free_port()), "LABEL_STUDIO_MEDIA_ROOT": str(base)}
    env.pop("LABEL_STUDIO_URL", None)
    env.pop("LABEL_STUDIO_API_KEY", None)
    t0 = time.perf_counter()
    start = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True,
                           env=env, timeout=600)
    assert start.returncode == 0, start.stdout + start.stderr
    print(f"\nLabel Studio started in {time.perf_counter() - t0:.0f} s: {start.stdout.strip()}")
    saved = {k: os.environ.get(k) for k in ("LABEL_STUDIO_HOME", "LABEL_STUDIO_PORT",
                                            "LABEL_STUDIO_MEDIA_ROOT", "LABEL_STUDIO_URL",
                                            "LABEL_STUDIO_API_KEY")}
    for k in saved:  # `curate` finds this server as a user's would: through the home's files
        os.environ.pop(k, None)
    os.environ["LABEL_STUDIO_HOME"] = env["LABEL_STUDIO_HOME"]
    try:
        yield base, ls.server_from_env()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        subprocess.run(["bash", str(SCRIPT), "stop"], env=env, timeout=120)


def second_user(url: str, admin: requests.Session, email: str) -> str:
    """A user who signs up through the organisation's invite link; returns their API token."""
    invite = admin.get(f"{url}/api/invite", timeout=30).json()["token"]
    s = requests.Session()
    signup = f"{url}/user/signup/?token={invite}"
    s.get(signup, timeout=30)
    s.post(signup, data={"email": email, "password": "pw-" + email,
                         "csrfmiddlewaretoken": s.cookies["csrftoken"]},
           headers={"Referer": signup}, timeout=30)
    r = s.get(f"{url}/api/current-user/token", timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["token"]


def session(token: str) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Token {token}"
    return s


def answer(s: requests.Session, url: str, task_id: int, shown: str) -> None:
    result = [{"from_name": ls.FROM_NAME, "to_name": ls.TO_NAME, "type": "choices",
               "value": {"choices": [shown]}}]
    r = s.post(f"{url}/api/tasks/{task_id}/annotations/", json={"result": result}, timeout=30)
    assert r.status_code == 201, r.text


def test_tasks_out_answers_back_through_a_real_server(server, dataset_name):
    base, srv = server
    ws = base / "ws"
    audited_dataset(base, dataset_name, n=30)
    r = cli(dataset_name, ws, "annotate", "--budget", "5", "--backend", "labelstudio",
            "--annotators", "2", "--task", "ls5")
    assert r.exit_code == 0, r.output
    assert "5 faces sent, 0 there already, 2 answer(s) each" in r.text, r.text
    admin = session(srv.key)
    project = ls.find_project(ls.Client(srv), dataset_name, "ls5")
    assert project["maximum_annotations"] == 2 and project["overlap_cohort_percentage"] == 100
    tasks = ls.project_tasks(ls.Client(srv), project["id"])
    assert len(tasks) == 5 and not any(t["predictions"] for t in tasks)  # no --prefill
    img = admin.get(srv.url + tasks[0]["data"]["image"], timeout=30)
    assert img.status_code == 200 and img.content[:4] == b"\x89PNG"  # served from local storage

    r = cli(dataset_name, ws, "annotate", "--budget", "5", "--backend", "labelstudio",
            "--annotators", "2", "--task", "ls5")
    assert r.exit_code == 0 and "0 faces sent, 5 there already" in r.text, r.text

    bob = session(second_user(srv.url, admin, "bob@example.org"))
    for t, shown in zip(tasks, ["happy", "sad", "not a face", "unsure", "angry"], strict=True):
        answer(admin, srv.url, t["id"], shown)
        answer(bob, srv.url, t["id"], "happy")
    r = cli(dataset_name, ws, "annotate", "--load")
    assert r.exit_code == 0, r.output
    assert "10 annotations on 5 of 5 faces, 10 answers added, 0 already present" in r.text
    ds = store.load_dataset(dataset_name)
    got = [a for ans in ds.match({schema.ASK_TASK: "ls5"}).values(schema.ANSWERS) for a in ans]
    assert len(got) == 10 and {a["via"] for a in got} == {schema.LABELSTUDIO_VIA}
    assert {a["annotator"] for a in got} == {"curate@localhost", "bob@example.org"}
    assert {a["label"] for a in got} >= {schema.NONFACE, schema.UNSURE, "happy"}

    r = cli(dataset_name, ws, "annotate", "--load", "--task", "ls5")  # a re-load adds none
    assert r.exit_code == 0 and "0 answers added, 10 already present" in r.text, r.text

    first = tasks[0]
    answer(admin, srv.url, first["id"], "fear")  # the same annotator again: the later counts
    r = cli(dataset_name, ws, "annotate", "--load")
    assert r.exit_code == 0 and "1 answers added" in r.text, r.text
    face = store.load_dataset(dataset_name)[first["data"]["sample_id"]]
    assert len(face[schema.ANSWERS]) == 3
    assert face[schema.FERPLUS_VOTES][FERPLUS_COLUMNS.index("fear")] == 1
    assert face[schema.FERPLUS_VOTES][FERPLUS_COLUMNS.index("happiness")] == 1  # bob's

    _screenshot(srv, project["id"], first["id"])
    assert admin.delete(f"{srv.url}/api/tasks/{tasks[-1]['id']}/", timeout=30).status_code == 204
    r = cli(dataset_name, ws, "annotate", "--load")
    assert r.exit_code == 0 and "1 faces' tasks deleted on the server" in r.text, r.text
    assert "0 answers added" in r.text
    ds = store.load_dataset(dataset_name)
    assert sum(len(a) for a in ds.match({schema.ASK_TASK: "ls5"}).values(schema.ANSWERS)) == 11


def test_prefill_sends_the_suggestion_as_a_prediction(server, dataset_name):
    base, srv = server
    (base / "pre").mkdir()
    audited_dataset(base / "pre", dataset_name, n=12)
    r = cli(dataset_name, base / "pre" / "ws", "annotate", "--budget", "3", "--backend",
            "labelstudio", "--prefill", "--task", "pre")
    assert r.exit_code == 0, r.output
    client = ls.Client(srv)
    tasks = ls.project_tasks(client, ls.find_project(client, dataset_name, "pre")["id"])
    ds = store.load_dataset(dataset_name)
    for t in tasks:
        suggested = ds[t["data"]["sample_id"]][schema.SUGGESTED_LABEL]
        choice = t["predictions"][0]["result"][0]["value"]["choices"]
        assert choice == [getattr(suggested, "label", suggested)]


def test_server_down_or_no_token_is_one_line_naming_the_script(tmp_path, dataset_name,
                                                               monkeypatch):
    audited_dataset(tmp_path, dataset_name, n=12)
    ws = tmp_path / "ws"
    monkeypatch.setenv("LABEL_STUDIO_HOME", str(tmp_path / "nothing"))
    for k in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY", "LABEL_STUDIO_PORT"):
        monkeypatch.delenv(k, raising=False)
    r = cli(dataset_name, ws, "annotate", "--load")
    assert r.exit_code == 6 and "scripts/label-studio.sh start" in r.text, r.output
    assert len(r.output.strip().splitlines()) == 1
    monkeypatch.setenv("LABEL_STUDIO_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "x" * 40)
    r = cli(dataset_name, ws, "annotate", "--budget", "3", "--backend", "labelstudio")
    assert r.exit_code == 6 and "no Label Studio answering at" in r.text, r.output
    assert "scripts/label-studio.sh start" in r.text


def _screenshot(srv: ls.Server, project: int, task: int) -> None:
    """The labelling page of one task, logged in as the local user, into test-artefacts/."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        print("no screenshot: selenium is not installed")
        return
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        print("no screenshot: no chromium + chromedriver (scripts/browser.sh)")
        return
    user, password = (ls.home() / "login").read_text().split()
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        from selenium.webdriver.common.by import By

        driver.get(f"{srv.url}/user/login/")
        driver.find_element(By.ID, "email").send_keys(user)
        driver.find_element(By.ID, "password").send_keys(password)
        driver.find_element(By.ID, "login-form").submit()
        time.sleep(2)
        driver.get(f"{srv.url}/projects/{project}/data?task={task}")
        assert _wait_for_image(driver), f"no face on the labelling page ({driver.current_url})"
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTEFACTS / "labelstudio-task.png"
        driver.save_screenshot(str(path))
        print(f"Label Studio labelling page: {path}")
    finally:
        driver.quit()


def _wait_for_image(driver, timeout: float = 60) -> bool:
    from selenium.webdriver.common.by import By

    deadline = time.time() + timeout
    while time.time() < deadline:
        imgs = driver.find_elements(By.CSS_SELECTOR, "img[src*='local-files']")
        if imgs and driver.execute_script("return arguments[0].complete", imgs[0]):
            time.sleep(2)  # the choices render beside it
            return True
        time.sleep(1)
    return False
