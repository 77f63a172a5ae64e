"""The review plugin in a real browser: `curate app` serves the App with the plugin, headless
Chromium (Debian's `chromium` + `chromium-driver`, through selenium) opens the Label audit
panel, loads the review queue into the grid, selects two faces, clicks "Accept suggested",
and the database holds the decision. The panel's screenshot is kept in test-artefacts/."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from review_fixtures import audited_dataset
from test_app import free_port

from curate.core import schema, store

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTEFACTS = Path(os.environ.get("TEST_ARTEFACTS", Path(__file__).resolve().parents[2] /
                                "test-artefacts"))
# as the machine's own browser check starts it: no background traffic on a closed network
CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1500,950",
                "--disable-dev-shm-usage", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run")


def _browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (scripts/install.sh installs it)")
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.skip("no chromium + chromedriver (scripts/browser.sh installs Debian's)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def _wait_for_server(port: int, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.time() + timeout  # the App takes ~60 s to start on a busy 2-core box
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"curate app exited: {proc.communicate()[0].decode()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5):
                return
        except OSError:
            time.sleep(1)
    raise AssertionError("the App server did not answer within 240 s")


def _until(what, timeout: float = 60, every: float = 0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = what()
        if got:
            return got
        time.sleep(every)
    return what()


def _select(driver, checkbox) -> None:
    """Hover a grid thumbnail (its checkbox appears), then click the checkbox."""
    from selenium.webdriver.common.action_chains import ActionChains

    rect = driver.execute_script(
        "let e = arguments[0]; while (e && e.getBoundingClientRect().width == 0) "
        "{ e = e.parentElement; } const r = e.getBoundingClientRect(); "
        "return [r.left + r.width / 2, r.top + r.height / 2];", checkbox)
    hover = ActionChains(driver)
    hover.w3c_actions.pointer_action.move_to_location(int(rect[0]), int(rect[1]))
    hover.perform()
    box = _until(lambda: driver.execute_script(
        "const r = arguments[0].getBoundingClientRect(); "
        "return r.width > 0 ? [r.left + r.width / 2, r.top + r.height / 2] : null;", checkbox),
        timeout=10)
    assert box, "the thumbnail's checkbox did not appear on hover"
    click = ActionChains(driver)
    click.w3c_actions.pointer_action.move_to_location(int(box[0]), int(box[1]))
    click.w3c_actions.pointer_action.click()
    click.perform()


def test_label_audit_panel_accepts_the_suggested_label_in_a_real_browser(tmp_path,
                                                                         dataset_name):
    from selenium.webdriver.common.by import By

    ds, flagged = audited_dataset(tmp_path, dataset_name)
    driver = _browser()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "curate.cli", "--dataset", dataset_name, "app", "--port",
         str(port), "--reviewer", "browser-test"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ.copy(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        _wait_for_server(port, proc)
        driver.get(f"http://127.0.0.1:{port}/datasets/{dataset_name}")
        assert _until(lambda: driver.find_elements(By.CSS_SELECTOR, "[data-cy=new-panel-btn]"),
                      timeout=120), "the App did not render"
        for dismiss in driver.find_elements(By.XPATH, "//*[text()='Dismiss']"):
            dismiss.click()  # the "Explore Enterprise" pop-up
        driver.find_element(By.CSS_SELECTOR, "[data-cy=new-panel-btn]").click()
        entry = _until(lambda: driver.find_elements(By.XPATH, "//p[text()='Label audit']"))
        assert entry, "the plugin's panel is not in the App's panel menu"
        entry[0].click()
        next_btn = _until(lambda: driver.find_elements(
            By.XPATH, "//button[contains(., 'Next batch')]"), timeout=60)
        assert next_btn, "the Label audit panel did not render"
        assert "est. precision" in driver.find_element(By.TAG_NAME, "body").text
        next_btn[0].click()
        shown = _until(lambda: f"{len(flagged)} samples" in
                       driver.find_element(By.TAG_NAME, "body").text)
        assert shown, "the review queue's batch is not in the grid"
        boxes = _until(lambda: driver.find_elements(
            By.CSS_SELECTOR, "label[data-cy^='looker-checkbox']"))
        # why each face was flagged: the source's label, the current one and the suggestion,
        # three label fields the grid draws (curate.review.grid)
        body = driver.find_element(By.TAG_NAME, "body").text
        assert schema.REVIEW_GIVEN in body and schema.REVIEW_SUGGESTED in body
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        time.sleep(2)  # the thumbnails draw their labels
        driver.save_screenshot(str(ARTEFACTS / "review-grid.png"))
        for box in boxes[:2]:
            _select(driver, box)
        driver.find_element(By.XPATH, "//button[contains(., 'Accept suggested')]").click()

        def decided() -> list:
            ds.reload()
            if schema.REVIEW_LOG not in ds.get_field_schema():
                return []
            return [s for s in ds.select(flagged) if s[schema.REVIEW_LOG]]

        done = _until(decided, timeout=60)
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        time.sleep(2)  # the panel refreshes its table after the decision
        driver.save_screenshot(str(ARTEFACTS / "label-audit-panel.png"))
        assert len(done) == 2, f"{len(done)} samples decided"
        queue_first = sorted(flagged, key=lambda i: -ds[i][schema.LABEL_ERROR_PROB])[:2]
        assert {s.id for s in done} == set(queue_first)  # the queue's first two, as shown
        for s in done:
            assert schema.relabel_tag(s[schema.SUGGESTED_LABEL]) in s.tags
            assert s[schema.REVIEW_LOG][-1]["reviewer"] == "browser-test"
        assert store.load_dataset(dataset_name).count_sample_tags()[schema.issue_tag("label")] \
            == len(flagged)
    finally:
        driver.quit()
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
