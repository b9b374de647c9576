"""Real-browser tests: JupyterLab on 127.0.0.1 driven by Playwright with Debian's Chromium.

They open a copy of a widget notebook, run all cells, check that the widget renders, move a
control and see the figure change, and look for tracebacks. A screenshot of each run is saved
in ``tests/_artifacts/``. They skip, saying why, where Chromium or Playwright is absent
(``.ci/run`` installs Chromium, so CI runs them).

The notebooks load and run side by side (one server, one browser, a page per notebook),
then each test checks its own. How they synchronise with JupyterLab (every wait is for a
condition, never a fixed sleep):

- The served notebooks are copies with their outputs and execution counts stripped, so a
  numbered prompt ``[n]:`` can only come from this run.
- The notebook's windowing mode is set to ``none``: by default JupyterLab 4 attaches cells
  lazily, and cells out of view show an empty prompt, so "every prompt is numbered" could
  never become true.
- A "Select Kernel" dialog, which JupyterLab may show while the kernel specs are still
  loading, is accepted (its default is the notebook's own kernel).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "_artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NOTEBOOKS = [
    "01_derivatives_and_the_chain_rule.ipynb",
    "05_activations_and_losses.ipynb",
    "playground.ipynb",
]
KERNEL_START_MS = 180_000  # from opening the notebook to an idle kernel
RUN_ALL_MS = 240_000  # a notebook's cells take 10-40 s, over a minute on a loaded machine
REDRAW_MS = 90_000  # one widget redraw round trip (browser -> kernel -> browser)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not Path(CHROMIUM).exists():
    pytest.skip(
        f"Chromium not found at {CHROMIUM} (install it with `apt-get install -y chromium`)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (it comes with the test extra)"
)

# JupyterLab user settings for the test server (see the module docstring).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "checkForUpdates": False,
        "fetchNews": "false",
    },
}

# JavaScript run in the page. The status bar shows the notebook's kernel as
# "<kernel name> | <state>" ("No Kernel | ..." before one is attached); a dialog open on the
# page (such as "Select Kernel") is reported as the state "dialog".
KERNEL_STATE_JS = """() => {
    if (document.querySelector('.jp-Dialog')) return 'dialog';
    for (const item of document.querySelectorAll('.jp-StatusBar-TextItem')) {
        const match = /^(.+) \\| (\\w[\\w ]*)$/.exec(item.textContent.trim());
        if (match && match[1] !== 'No Kernel') return match[2];
    }
    return '';
}"""
WAIT_FOR_KERNEL_JS = f"""() => {{
    const state = ({KERNEL_STATE_JS})();
    return state === 'Idle' || state === 'dialog' ? state : null;
}}"""
# Every code cell has run (a numbered prompt) or one raised, and the kernel is idle again.
ALL_RAN_JS = f"""() => {{
    if (({KERNEL_STATE_JS})() !== 'Idle') return false;
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
        .map(e => e.textContent.trim());
    const failed = [...document.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
        .some(e => e.textContent.includes('Traceback'));
    return failed || (prompts.length > 0 && prompts.every(p => /^\\[\\d+\\]:$/.test(p)));
}}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stripped_copy(source: Path, target: Path) -> None:
    """Copy a notebook without outputs or execution counts."""
    notebook = json.loads(source.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    notebook["metadata"].pop("widgets", None)
    target.write_text(json.dumps(notebook, indent=1), encoding="utf-8")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 serving a temporary copy of the notebooks."""
    root = tmp_path_factory.mktemp("lab")
    config = tmp_path_factory.mktemp("lab-config")
    for name in NOTEBOOKS:
        _stripped_copy(ROOT / "notebooks" / name, root / name)
    for name, values in LAB_SETTINGS.items():
        path = config / "lab" / "user-settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")
    port, token = _free_port(), "bpkit-browser-test"
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    env["JUPYTER_CONFIG_DIR"] = str(config)
    env["JUPYTER_RUNTIME_DIR"] = str(config / "runtime")
    log_path = config / "lab.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed in teardown
    server = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter", "lab", "--no-browser",
            "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
            "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        ],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:  # a separate process: polling its HTTP status is the only way to wait
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                server.wait()
                log.close()
                pytest.fail("JupyterLab did not start:\n" + log_path.read_text())
            time.sleep(0.5)
    yield {"url": url, "token": token, "root": root, "log": log_path}
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    log.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@dataclass
class OpenNotebook:
    """A notebook open in its own page, with what the page reported."""

    name: str
    page: Any
    page_errors: list[str] = field(default_factory=list)  # uncaught exceptions (asserted)
    console_errors: list[str] = field(default_factory=list)  # shown when a test fails


@pytest.fixture(scope="module")
def notebooks(browser, lab):
    """Every notebook of NOTEBOOKS open in its own page, with Run All Cells started.

    The pages load and the notebooks run at the same time, which keeps the module's runtime
    down on a loaded machine. Yields {name: OpenNotebook}; each test waits for its own
    notebook to finish.
    """
    opened: dict[str, OpenNotebook] = {}
    try:
        try:
            for name in NOTEBOOKS:
                opened[name] = _open(browser, lab, name)
            for nb in opened.values():
                nb.page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(
                    timeout=KERNEL_START_MS
                )
                _wait_for_idle_kernel(nb.page)
                _start_run_all(nb.page)
        except Exception:
            for nb in opened.values():
                with contextlib.suppress(Exception):  # keep the original error
                    _save_screenshot(nb, suffix="-setup")
                print(_diagnostics(nb, lab))  # pytest shows captured output with the error
            raise
        yield opened
    finally:
        for nb in opened.values():
            nb.page.close()
        _shut_down_kernels(lab)


def _open(browser, lab, name: str) -> OpenNotebook:
    """Start loading a notebook in a new page (single-document mode, a fresh workspace)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    nb = OpenNotebook(name, page)
    page.on("pageerror", lambda exc: nb.page_errors.append(f"page error: {exc}"))
    page.on("console", lambda m: m.type == "error" and nb.console_errors.append(m.text))
    page.goto(
        f"{lab['url']}/doc/workspaces/{Path(name).stem}/tree/{name}?token={lab['token']}",
        wait_until="commit",
        timeout=KERNEL_START_MS,
    )
    return nb


def _save_screenshot(nb: OpenNotebook, suffix: str = "") -> None:
    """Save a screenshot of the page as tests/_artifacts/<notebook><suffix>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    nb.page.screenshot(path=str(ARTIFACTS / f"{Path(nb.name).stem}{suffix}.png"))


@contextlib.contextmanager
def _ran(notebooks: dict[str, OpenNotebook], lab, name: str):
    """Notebook ``name`` once all its cells ran, with no problem before or after the block.

    A screenshot of its page is saved when the block ends, pass or fail.
    """
    nb = notebooks[name]
    try:
        _wait_until_all_ran(nb, lab)
        assert _problems(nb) == [], nb.console_errors
        yield nb
        assert _problems(nb) == [], nb.console_errors
    finally:
        _save_screenshot(nb)


def _diagnostics(nb: OpenNotebook, lab) -> str:
    """What to read when a wait fails: prompts, kernel state, console errors, server log."""
    try:
        prompts = nb.page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        state = nb.page.evaluate(KERNEL_STATE_JS)
    except Exception as exc:  # a crashed or closed page: report what is left
        prompts, state = f"unavailable ({exc})", "unknown"
    log = lab["log"].read_text(errors="replace")[-3000:]
    return (
        f"{nb.name}: kernel {state!r}; prompts {prompts}\n"
        f"console errors: {nb.console_errors}\npage errors: {nb.page_errors}\n"
        f"end of {lab['log']}:\n{log}"
    )


def _wait_for_idle_kernel(page) -> None:
    """Wait until the notebook's kernel is idle, accepting a kernel-selection dialog."""
    deadline = time.monotonic() + KERNEL_START_MS / 1000
    while True:
        state = page.wait_for_function(
            WAIT_FOR_KERNEL_JS,
            timeout=max(1_000, int((deadline - time.monotonic()) * 1000)),
        ).json_value()
        if state == "Idle":
            return
        # "Select Kernel": its accept button keeps the notebook's own kernel
        page.locator(".jp-Dialog .jp-mod-accept").first.click()
        page.locator(".jp-Dialog").wait_for(state="detached")


def _start_run_all(page) -> None:
    """Run > Run All Cells."""
    page.locator(".lm-MenuBar-itemLabel:text-is('Run')").click()
    item = page.locator(".lm-Menu-item:has(.lm-Menu-itemLabel:text-is('Run All Cells'))")
    item.wait_for(state="visible")
    item.click()


def _wait_until_all_ran(nb: OpenNotebook, lab) -> None:
    """Wait until every code cell has a numbered prompt (or one failed) and the kernel idles."""
    nb.page.bring_to_front()
    try:
        nb.page.wait_for_function(ALL_RAN_JS, timeout=RUN_ALL_MS, polling=500)
    except sync_api.TimeoutError:
        raise AssertionError(
            "the notebook's cells did not all run in time\n" + _diagnostics(nb, lab)
        ) from None


def _shut_down_kernels(lab) -> None:
    """Shut down every session's kernel."""
    headers = {"Authorization": f"token {lab['token']}"}
    listing = urllib.request.Request(f"{lab['url']}/api/sessions", headers=headers)
    with urllib.request.urlopen(listing, timeout=30) as response:
        sessions = json.load(response)
    for session in sessions:
        request = urllib.request.Request(
            f"{lab['url']}/api/sessions/{session['id']}", headers=headers, method="DELETE"
        )
        urllib.request.urlopen(request, timeout=30).close()


def _problems(nb: OpenNotebook) -> list[str]:
    """Tracebacks and errors in the outputs, widgets that failed to render, page errors."""
    stderr = nb.page.locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
    ).all_inner_texts()
    found = [t for t in stderr if "Traceback" in t or "Error" in t]
    found += [
        t for t in nb.page.locator(".jp-OutputArea-output").all_inner_texts()
        if "Error displaying widget" in t
    ]
    return found + nb.page_errors


def _widget(page, index: int = 0):
    """The ``index``-th widget app (a VBox holding an Image) in the notebook."""
    box = page.locator(".jupyter-widgets.widget-vbox:has(> .widget-image)").nth(index)
    box.wait_for(state="visible", timeout=REDRAW_MS)
    box.scroll_into_view_if_needed()
    return box


def _image_src(box) -> str:
    src = box.locator(":scope > .widget-image").get_attribute("src") or ""
    assert src.startswith(("blob:", "data:")), f"the widget's image has no picture: {src!r}"
    return src


def _wait_for_redraw(nb: OpenNotebook, box, before: str, what: str) -> str:
    """Wait until the widget's image is replaced and shown and the kernel is idle again.

    Each action in these tests changes one value, so the kernel redraws exactly once and
    the first new image is the one for the new value. Returns the new image's src.
    """
    img = box.locator(":scope > .widget-image")
    try:
        img.evaluate(
            """(img, before) => new Promise(resolve => {
                   const done = () => img.getAttribute('src') !== before && img.complete
                       && img.naturalWidth > 0;
                   const check = () => { if (done()) { observer.disconnect(); resolve(); } };
                   const observer = new MutationObserver(check);
                   observer.observe(img, {attributes: true});
                   img.addEventListener('load', check);
                   check();
               })""",
            before,
            timeout=REDRAW_MS,
        )
        _wait_for_idle_kernel(nb.page)
    except sync_api.TimeoutError:
        raise AssertionError(
            f"the figure did not change after {what}; console errors: {nb.console_errors}"
        ) from None
    return _image_src(box)


def _choose_other_option(select) -> str:
    """Select an option of a <select> other than the current one; return its label."""
    current = select.evaluate("s => s.options[s.selectedIndex].text")
    other = next(t for t in select.locator("option").all_inner_texts() if t != current)
    select.select_option(label=other)
    return other


def test_derivative_explorer_renders_and_responds(notebooks, lab):
    from bpkit.widgets.derivative import FUNCTIONS

    with _ran(notebooks, lab, "01_derivatives_and_the_chain_rule.ipynb") as nb:
        page = nb.page
        box = _widget(page)
        message = box.locator(":scope > .widget-html")
        sliders = box.locator(".widget-hslider")
        assert sliders.count() == 2  # x and log10 h
        x_slider = sliders.filter(has=page.locator(".widget-label", has_text="x")).first
        select = box.locator(".widget-dropdown select")
        checkbox = box.locator(".widget-checkbox input[type='checkbox']")
        assert select.count() == 1 and checkbox.count() == 1
        image = _image_src(box)

        # keyboard: focus the x slider's handle and step it once (step 0.01)
        readout = x_slider.locator(".widget-readout")
        x_before = float(readout.inner_text().replace("\u2212", "-"))
        handle = x_slider.locator(".noUi-handle")
        at_max = x_before >= float(handle.get_attribute("aria-valuemax")) - 0.005
        key, step = ("ArrowLeft", -0.01) if at_max else ("ArrowRight", 0.01)
        handle.focus()
        handle.press(key)
        image = _wait_for_redraw(nb, box, image, f"pressing {key} on the x slider")
        x = float(readout.inner_text().replace("\u2212", "-"))
        assert abs(x - (x_before + step)) < 1e-9
        assert f"f'({x:.2f}) = " in message.inner_text()

        # dropdown: another function; the kernel's analytic slope is that function's
        label = _choose_other_option(select)
        image = _wait_for_redraw(nb, box, image, f"choosing f(x) = {label}")
        slope = FUNCTIONS[label][1](x)
        assert f"f'({x:.2f}) = {slope:.6f} (analytic)" in message.inner_text()

        # checkbox: toggle between forward and central differences
        expected = "forward" if checkbox.is_checked() else "central"
        checkbox.click()
        _wait_for_redraw(nb, box, image, "clicking 'central difference'")
        assert f"{expected} difference" in message.inner_text()


def test_activation_explorer_renders_and_responds(notebooks, lab):
    with _ran(notebooks, lab, "05_activations_and_losses.ipynb") as nb:
        page = nb.page
        box = _widget(page)
        message = box.locator(":scope > .widget-html")
        assert box.locator(".widget-hslider").count() == 2  # the negative slope, the x range
        image = _image_src(box)
        label = _choose_other_option(box.locator(".widget-dropdown select"))
        _wait_for_redraw(nb, box, image, f"choosing the activation {label}")
        assert message.inner_text().startswith(f"{label}(")


# -- the playground ---------------------------------------------------------------------------
# The Playground is not a single figure: it is a box (class ``bpkit-playground``) of
# controls and images, the output image marked ``bpkit-playground-output``, each hidden
# unit's image ``bpkit-playground-unit`` and the epoch counter ``bpkit-epoch``.
EPOCH_JS = """() => {
    const b = document.querySelector('.bpkit-playground .bpkit-epoch');
    return b ? parseInt(b.textContent, 10) : -1;
}"""


def _epoch(page) -> int:
    return page.evaluate(EPOCH_JS)


def _wait_for(page, predicate: str, arg: Any, what: str) -> None:
    """Wait until the JavaScript ``predicate(arg)`` holds on the page (polled)."""
    try:
        page.wait_for_function(predicate, arg=arg, polling=100, timeout=REDRAW_MS)
    except sync_api.TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def test_playground_plays_and_responds(notebooks, lab):
    with _ran(notebooks, lab, "playground.ipynb") as nb:
        page = nb.page
        app = page.locator(".jupyter-widgets.bpkit-playground").first
        app.wait_for(state="visible", timeout=REDRAW_MS)
        app.scroll_into_view_if_needed()
        output = app.locator("img.bpkit-playground-output")
        units = app.locator("img.bpkit-playground-unit")
        assert _epoch(page) == 0
        assert units.count() == 6  # hidden layers of 4 and 2 units
        before = output.get_attribute("src")
        assert before and before.startswith(("blob:", "data:"))
        output_src = "() => document.querySelector('.bpkit-playground-output').src"

        # Play: the epoch counter runs and the output image is replaced
        play = app.locator("button", has_text="Play")
        play.click()
        _wait_for(page, f"() => ({EPOCH_JS})() >= 3", None, "the epoch counter to reach 3")
        _wait_for(page, f"before => ({output_src})() !== before", before,
                  "the output image to change while playing")
        assert "Pause" in app.locator("button", has_text="Pause").inner_text()

        # Pause, then Step: exactly one more epoch. The counter's widget also says
        # "paused", so once it does, the epoch it shows is the last one played.
        app.locator("button", has_text="Pause").click()
        _wait_for(page, "() => document.querySelector('.bpkit-playground .bpkit-state')"
                  "?.textContent === 'paused'", None, "the counter to say 'paused'")
        app.locator("button", has_text="Play").wait_for(timeout=REDRAW_MS)
        _wait_for_idle_kernel(page)
        paused_at = _epoch(page)
        assert paused_at >= 3
        app.get_by_role("button", name="Step", exact=True).click()  # not "Step through ..."
        _wait_for(page, f"e => ({EPOCH_JS})() === e", paused_at + 1, "one step")
        _wait_for_idle_kernel(page)
        assert _epoch(page) == paused_at + 1

        # + layer: a third hidden layer of 2 units appears, training starts again
        app.locator("button", has_text="+ layer").click()
        _wait_for(page, "() => document.querySelectorAll("
                  "'.bpkit-playground img.bpkit-playground-unit').length === 8", None,
                  "the new layer's unit images")
        _wait_for(page, f"() => ({EPOCH_JS})() === 0", None, "the epoch counter to reset")
        assert "3 hidden layers" in app.inner_text()

        # another data set: the output image changes
        before = output.get_attribute("src")
        data = app.locator(".widget-dropdown", has=page.locator(".widget-label",
                                                                 has_text="data"))
        data.locator("select").select_option(label="Exclusive or")
        _wait_for(page, f"before => ({output_src})() !== before", before,
                  "the output image after choosing another data set")
        _wait_for_idle_kernel(page)
        assert data.locator("select").evaluate(  # ipywidgets writes spaces as U+00A0
            "s => s.options[s.selectedIndex].text.replace(/\\u00a0/g, ' ')") == "Exclusive or"

        # play the new setup for a while, so the screenshot shows training under way
        before = output.get_attribute("src")
        app.locator("button", has_text="Play").click()
        _wait_for(page, f"() => ({EPOCH_JS})() >= 10", None, "10 epochs on the new data")
        app.locator("button", has_text="Pause").click()
        _wait_for(page, "() => document.querySelector('.bpkit-playground .bpkit-state')"
                  "?.textContent === 'paused'", None, "the counter to say 'paused'")
        _wait_for_idle_kernel(page)
        assert output.get_attribute("src") != before



# -- the playground as a Voilà app ------------------------------------------------------------
# `make playground` serves notebooks/playground_app.ipynb with Voilà: the notebook runs in a
# kernel of its own and the page shows its markdown and the widget, never its code.
VOILA_START_S = 60  # from starting the server to its listening on the port
VOILA_MS = 45_000  # from opening the page to the widget, shown


@pytest.fixture
def voila_app(tmp_path):
    """A Voilà server on a free 127.0.0.1 port serving a copy of the Playground's app page."""
    pytest.importorskip("voila", reason="Voilà is not installed (pip install -e '.[app]')")
    shutil.copy(ROOT / "notebooks" / "playground_app.ipynb", tmp_path / "playground_app.ipynb")
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path / "config")
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    port = _free_port()
    log_path = tmp_path / "voila.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [
                sys.executable, "-m", "voila", "--no-browser", "--Voila.ip=127.0.0.1",
                f"--port={port}", "--Voila.port_retries=0", "playground_app.ipynb",
            ],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}/"
            deadline = time.monotonic() + VOILA_START_S
            while True:  # a separate process: polling its port is the only way to wait
                try:  # (not the page: each request for it starts a kernel)
                    socket.create_connection(("127.0.0.1", port), timeout=5).close()
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        pytest.fail("Voilà did not start:\n" + log_path.read_text())
                    time.sleep(0.5)
            yield {"url": url, "log": log_path}
        finally:
            server.terminate()  # Voilà shuts its kernels down on SIGTERM
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def test_playground_app_in_voila_shows_no_code_and_plays(browser, voila_app):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    nb = OpenNotebook("playground_app-voila.ipynb", page)
    page.on("pageerror", lambda exc: nb.page_errors.append(f"page error: {exc}"))
    page.on("console", lambda m: m.type == "error" and nb.console_errors.append(m.text))
    page.set_default_timeout(VOILA_MS)
    try:
        page.goto(voila_app["url"], wait_until="commit", timeout=VOILA_MS)
        app = page.locator(".jupyter-widgets.bpkit-playground").first
        try:
            app.wait_for(state="visible", timeout=VOILA_MS)
        except sync_api.TimeoutError:
            raise AssertionError(
                "the Playground did not appear in Voilà; console errors: "
                f"{nb.console_errors}\n{voila_app['log'].read_text()[-3000:]}"
            ) from None

        _wait_for(  # the widget's parts render one by one, or one fails
            page, f"""() => document.querySelector('.jupyter-widgets-error-widget') !== null
                || ({EPOCH_JS})() === 0 && document.querySelectorAll(
                    '.bpkit-playground img.bpkit-playground-unit').length === 6""",
            None, "the epoch counter and the 6 hidden units' images (layers of 4 and 2)",
        )
        errors = page.locator(".jupyter-widgets-error-widget")
        assert errors.count() == 0, (
            f"a widget did not render in Voilà: {errors.all_inner_texts()}; "
            f"the first console errors: {nb.console_errors[:3]}"
        )

        # an app, not a notebook: the title is shown, the code is not
        assert page.locator("h1").first.inner_text().strip() == "The bpkit Playground"
        cells = page.locator(".jp-CodeCell")
        assert cells.count() == 1 and "jp-mod-noInput" in cells.first.get_attribute("class")
        assert page.locator(".jp-CodeCell .jp-InputArea, .cm-editor, .CodeMirror").count() == 0
        assert "import Playground" not in page.locator("body").inner_text()
        assert _problems(nb) == [], nb.console_errors[:5]

        # Play: the epoch counter runs; the output, the network diagram and the hidden units'
        # images are replaced
        output = app.locator("img.bpkit-playground-output")
        diagram = app.locator("img.bpkit-playground-diagram")
        units = app.locator("img.bpkit-playground-unit")
        before, diagram_before = output.get_attribute("src"), diagram.get_attribute("src")
        units_before = units.evaluate_all("imgs => imgs.map(i => i.src)")
        assert before and before.startswith(("blob:", "data:"))
        assert diagram_before and diagram_before.startswith(("blob:", "data:"))
        app.locator("button", has_text="Play").click()
        _wait_for(page, f"() => ({EPOCH_JS})() >= 3", None, "the epoch counter to reach 3")
        for selector, src in (("output", before), ("diagram", diagram_before)):
            _wait_for(page, f"""before =>
                      document.querySelector('.bpkit-playground-{selector}').src !== before""",
                      src, f"the {selector} image to change while playing")
        _wait_for(page, """before => [...document.querySelectorAll('.bpkit-playground-unit')]
                  .every((img, i) => img.src !== before[i])""",
                  units_before, "every hidden unit's image to change while playing")
        app.locator("button", has_text="Pause").click()
        _wait_for(page, "() => document.querySelector('.bpkit-playground .bpkit-state')"
                  "?.textContent === 'paused'", None, "the counter to say 'paused'")
        assert _epoch(page) >= 3
        assert _problems(nb) == [], nb.console_errors[:5]
    finally:
        with contextlib.suppress(Exception):  # keep the original error
            _save_screenshot(nb)
        page.close()
