"""The page at ``/`` end to end: the real server (uvicorn on a loopback port) over a bundle trained here, driven
by headless Chromium: a WFDB record and a raw-signal CSV uploaded, every beat marked on the strip in its
class's colour, the summary and the least-certain table as the API answers, the server's errors shown.
Screenshots are kept in ``$ECG_BENCH_TEST_ARTIFACTS`` (else the test's tmp_path)."""
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,1500")


def _browser_missing() -> str | None:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return f"{path} not found: apt-get install -y {package}"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed: pip install selenium"
    return None


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base URL, bundle folder, a folder with record 200) of a server over an mlp trained with RR features and
    class weighting on a tiny database."""
    if reason := _browser_missing():
        pytest.skip(reason)
    pytest.importorskip("uvicorn")
    import uvicorn

    from benchmark.cli import main
    from benchmark.serving.app import create_app
    from benchmark.serving.bundle import load_bundle
    from tests.conftest import write_database, write_record

    tmp = tmp_path_factory.mktemp("page")
    db = write_database(tmp / "mitdb")
    (tmp / "uploads").mkdir()
    # class weighting: on these beats (one shape for every class) the model then spreads its answers over
    # several classes, so the page has marks of more than one colour to get right
    assert main(["--grid", "smoke", "--models", "mlp", "--resamplers", "class_weight", "--steps", "20",
                 "--eval-every", "10", "--rr", "--data-dir", str(db), "--cache-dir", str(tmp / "cache"),
                 "--results-dir", str(tmp / "results")]) == 0
    run_dir, = (tmp / "results").glob("intra/*/runs/*")
    assert main(["export", "--run", str(run_dir), "--out", str(tmp / "bundle")]) == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(load_bundle(tmp / "bundle")), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    write_record(tmp / "uploads", "200", n_beats=100)  # 76 s: two pages of the strip
    yield f"http://127.0.0.1:{port}", tmp / "bundle", tmp / "uploads"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser(served, tmp_path_factory):
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


@pytest.fixture
def artifacts(tmp_path):
    folder = Path(os.environ.get("ECG_BENCH_TEST_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def api_answer(base: str, paths: list[Path], fs: str | None = None) -> dict:
    import httpx

    files = [("files", (p.name, p.read_bytes())) for p in paths]
    response = httpx.post(f"{base}/predict/upload", files=files, data={"fs": fs} if fs else None, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def upload(driver, base: str, paths: list[Path], fs: str | None = None) -> str:
    """Open the page, upload ``paths`` (and fs), wait for the answer; the status's final state."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base}/")
    WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "model").text.startswith("Model "))
    driver.find_element(By.ID, "files").send_keys("\n".join(str(p) for p in paths))
    if fs:
        driver.find_element(By.ID, "fs").send_keys(fs)
    driver.find_element(By.ID, "submit").click()
    WebDriverWait(driver, 60).until(
        lambda d: d.find_element(By.ID, "status").get_attribute("data-state") in ("done", "error"))
    return driver.find_element(By.ID, "status").get_attribute("data-state")


def screenshot(driver, path: Path) -> None:
    """The whole page as a PNG (the window stretched to the document's height first)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(800, int(height) + 160))  # the window's frame is not the page's
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")


def check_page_shows(driver, answer: dict, marked: list[dict] | None = None) -> None:
    """The beats ``marked`` (default: all) marked once each on the strip in their class's colour, the summary's
    counts and the least-certain table as the API answered."""
    from selenium.webdriver.common.by import By

    legend = {e.get_attribute("data-class"): e.get_attribute("data-colour")
              for e in driver.find_elements(By.CSS_SELECTOR, "#legend .legend-item")}
    assert list(legend) == list(answer["summary"]["per_class"]) and len(set(legend.values())) == len(legend)
    marks = driver.find_elements(By.CSS_SELECTOR, "#strip .beat-mark")
    predictions = answer["predictions"]
    marked = predictions if marked is None else marked
    assert [int(m.get_attribute("data-beat")) for m in marks] == [p["beat"] for p in marked]
    assert [m.get_attribute("data-class") for m in marks] == [p["class"] for p in marked]
    for mark in marks:
        colour = legend[mark.get_attribute("data-class")]
        assert mark.find_element(By.TAG_NAME, "line").get_attribute("stroke") == colour
        assert mark.find_element(By.TAG_NAME, "rect").get_attribute("fill") == colour
    counts = {r.get_attribute("data-class"): int(r.find_element(By.CSS_SELECTOR, "td.count").text)
              for r in driver.find_elements(By.CSS_SELECTOR, "#summary tbody tr")}
    assert counts == answer["summary"]["per_class"]
    assert int(driver.find_element(By.ID, "summary-total").text) == answer["summary"]["beats"] == len(predictions)
    rows = driver.find_elements(By.CSS_SELECTOR, "#uncertain tbody tr")
    top = sorted((max(p["probabilities"].values()), p["beat"]) for p in predictions)[:10]
    assert [int(r.get_attribute("data-beat")) for r in rows] == [beat for _, beat in top]
    assert [r.find_element(By.CSS_SELECTOR, "td.probability").text for r in rows] == [f"{p:.3f}" for p, _ in top]


def test_a_wfdb_record_uploaded_on_the_page_is_drawn_with_every_beat_marked(served, browser, artifacts):
    from selenium.webdriver.common.by import By

    base, _, records = served
    paths = [records / f"200{suffix}" for suffix in (".hea", ".dat", ".atr")]
    assert upload(browser, base, paths) == "done", browser.find_element(By.ID, "error").text
    answer = api_answer(base, paths)
    assert answer["summary"]["beats"] > 90 and answer["signal"]["fs"] == 125
    assert len({p["class"] for p in answer["predictions"]}) >= 2, "the colour check needs beats of two classes"
    # the 100-beat record lasts 76 s: its first minute is the first page, the rest the second
    first = [p for p in answer["predictions"] if p["sample"] / answer["fs"] < 60]
    check_page_shows(browser, answer, first)
    screenshot(browser, artifacts / "serve-page-wfdb.png")
    browser.find_element(By.ID, "next-page").click()
    later = [int(m.get_attribute("data-beat")) for m in browser.find_elements(By.CSS_SELECTOR, "#strip .beat-mark")]
    assert later == [p["beat"] for p in answer["predictions"][len(first):]] and later
    assert "page 2 of 2" in browser.find_element(By.ID, "page-label").text


def test_a_raw_signal_csv_uploaded_with_its_rate_is_drawn(served, browser, artifacts):
    import wfdb
    from selenium.webdriver.common.by import By

    base, _, records = served
    signal = wfdb.rdrecord(str(records / "200"), channels=[0], sampto=360 * 50).p_signal[:, 0]
    csv = artifacts / "lead-200.csv"
    np.savetxt(csv, signal[:, None], delimiter=",", fmt="%.4f")
    assert upload(browser, base, [csv], fs="360") == "done", browser.find_element(By.ID, "error").text
    answer = api_answer(base, [csv], fs="360")
    assert "raw signal at 360 Hz" in answer["source"] and answer["summary"]["beats"] > 50
    check_page_shows(browser, answer)
    screenshot(browser, artifacts / "serve-page-csv.png")


def test_the_servers_errors_are_shown_on_the_page(served, browser, artifacts):
    from selenium.webdriver.common.by import By

    base, _, records = served
    assert upload(browser, base, [records / "200.hea"]) == "error"
    error = browser.find_element(By.ID, "error")
    assert error.is_displayed() and "422" in error.text and "200.dat: missing" in error.text
    from tests.conftest import clustered_beats

    beats = artifacts / "kaggle-beats.csv"
    np.savetxt(beats, clustered_beats((4, 2, 2, 1, 1)).x, delimiter=",", fmt="%.5f")
    assert upload(browser, base, [beats]) == "error"  # a model trained with RR intervals needs positions
    assert "no R-peak positions" in browser.find_element(By.ID, "error").text
    screenshot(browser, artifacts / "serve-page-error.png")
    import httpx

    assert httpx.get(f"{base}/health").json()["status"] == "ok"
