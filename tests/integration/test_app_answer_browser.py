"""The answering mode in a real browser: `curate app --annotate` serves the App on the Answer
faces panel alone, headless Chromium (as test_app_review.py drives it) presses keys, and the
database holds each answer as it is given. Labels stay hidden until a face is answered; U
takes an answer back; 20 answers are typed and timed (faces per minute, printed for the note,
not asserted); the App stopped mid-session keeps every answer. Screenshots go to
test-artefacts/."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from answer_fixtures import TASK, task_dataset
from test_app import free_port
from test_app_review import ARTEFACTS, _browser, _until, _wait_for_server

from curate.core import schema, store
from curate.core.taxonomy import CLASSES

TYPED = "1234567ns" * 3  # 27 keys: the first 20 are timed


def _face(driver) -> tuple[str, str] | None:
    """(face id, event count) of the face on screen, None while none is shown (both read in
    one script: a render between two reads would pair an old face with a new count)."""
    got = driver.execute_script(
        "const i = document.querySelector('img[data-cy=curate-answer-face]'); "
        "return i ? [i.dataset.face, i.dataset.seq] : null;")
    return tuple(got) if got else None


def _press(driver, key: str, before: tuple[str, str]) -> tuple[str, str]:
    """Press a key on the page and wait until the panel has handled it."""
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(key).perform()
    after = _until(lambda: (f := _face(driver)) and f[1] != before[1] and f, timeout=30,
                   every=0.02)
    assert after, f"key {key!r} was not handled"
    return after


def _text_without_buttons(driver) -> str:
    return driver.execute_script(
        "const c = document.body.cloneNode(true); c.querySelectorAll('button')"
        ".forEach(b => b.remove()); return c.innerText;")


def _app_answers(name: str) -> dict[str, list[dict]]:
    ds = store.load_dataset(name)
    ds.reload()
    ids, answers = ds.values(["id", schema.ANSWERS])
    return {i: [x for x in a if x["via"] == schema.APP_VIA] for i, a in
            zip(ids, answers, strict=True) if a}


def test_answering_mode_by_key_presses_in_a_real_browser(tmp_path, dataset_name):
    from selenium.webdriver.common.by import By

    ds, faces = task_dataset(tmp_path, dataset_name, n=40, budget=24)
    driver = _browser()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "curate.cli", "--dataset", dataset_name, "app", "--port",
         str(port), "--annotate", "--task", TASK, "--reviewer", "browser-test"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ.copy(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    try:
        _wait_for_server(port, proc)
        driver.get(f"http://127.0.0.1:{port}/datasets/{dataset_name}")
        shown = _until(lambda: _face(driver), timeout=180)
        assert shown, "the Answer faces panel did not show a face"
        assert shown[0] == faces[0]  # the task's faces in id order
        for dismiss in driver.find_elements(By.XPATH, "//*[text()='Dismiss']"):
            dismiss.click()  # the "Explore Enterprise" pop-up
        # no anchoring: no class name on the page but the key buttons' (no grid, no label)
        text = _text_without_buttons(driver)
        assert "Labels stay hidden" in text and "Previous face" not in text
        assert not [c for c in CLASSES if c in text], text
        assert "0 / 24" in text
        driver.save_screenshot(str(ARTEFACTS / "answer-faces-hidden.png"))

        # an answer, then U: it is in the database, then gone, and the face is back
        after = _press(driver, "3", shown)
        assert after[0] == faces[1]
        assert [a["label"] for a in _app_answers(dataset_name)[faces[0]]] == [CLASSES[2]]
        assert "Previous face: you said" in _text_without_buttons(driver)
        after = _press(driver, "u", after)
        assert after[0] == faces[0] and faces[0] not in _app_answers(dataset_name)

        t0 = time.perf_counter()
        for key in TYPED[:20]:
            after = _press(driver, key, after)
        seconds = time.perf_counter() - t0
        per_minute = 20 / seconds * 60
        driver.save_screenshot(str(ARTEFACTS / "answer-faces.png"))
        print(f"\nanswering mode: 20 answers typed in {seconds:.1f} s = {per_minute:.1f} "
              f"faces/min; screenshots: {ARTEFACTS / 'answer-faces-hidden.png'}, "
              f"{ARTEFACTS / 'answer-faces.png'}")
        assert after[0] == faces[20]
        assert "20 / 24" in _text_without_buttons(driver)
    finally:
        driver.quit()
        proc.send_signal(signal.SIGINT)  # the App closed mid-session (4 faces left)
        try:
            proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    got = _app_answers(dataset_name)
    key_label = {**{str(k + 1): c for k, c in enumerate(CLASSES)}, "n": schema.NONFACE,
                 "s": schema.UNSURE}
    assert {i: [a["label"] for a in got[i]] for i in got} == {
        faces[k]: [key_label[key]] for k, key in enumerate(TYPED[:20])}
    assert all(a["annotator"] == "browser-test" and a["task"] == TASK
               for answers in got.values() for a in answers)
