"""The real viewer under Xvfb: screenshots, a slider dragged with xdotool, recordings, SIGTERM mid-recording.

Each test starts ``smplpix-viewer`` in a fresh process on an Xvfb display started by the fixture,
with a tiny random-weight pixnet generator exported to ONNX (so no trained model is needed), and
drives it through its command-line automation flags and real X input events.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_viewer_support import BOOTSTRAP, ROOT, make_tiny_model, viewer_command

from smplpix_rt.video import count_video_frames

pytestmark = pytest.mark.gui

WINDOW = (1280, 800)
TITLE = "smplpix viewer"
SLIDER_GRAB = (61, 133, 224)  # ImGui dark style's slider grab colour
START_TIMEOUT = 120.0  # a cold start imports torch and the body model


@pytest.fixture(scope="module")
def display():
    """A private Xvfb server on a free display number, stopped at the end."""
    from smplpix_rt.virtual_display import virtual_display

    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb is not installed (apt-get install xvfb xauth)")
    with virtual_display(*WINDOW) as name:
        yield name


def test_virtual_displays_get_their_own_numbers_and_stop_on_exit(display):
    from smplpix_rt.virtual_display import virtual_display

    def reachable(name: str) -> bool:
        probe = "import sys, glfw; ok = glfw.init(); glfw.terminate(); sys.exit(0 if ok else 1)"
        return subprocess.run([sys.executable, "-c", probe], env=_env(name), capture_output=True).returncode == 0

    with virtual_display(320, 240) as second:
        assert second != display  # Xvfb picked a free number itself (-displayfd)
        assert reachable(second) and reachable(display)
    assert not reachable(second)  # stopped on exit


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny.onnx")


def _env(display: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
    env["DISPLAY"] = display
    return env


def _start(display: str, model: Path, *args: str) -> subprocess.Popen:
    command = viewer_command(str(model), "--size", "128", "--backend", "onnxruntime", *args)
    return subprocess.Popen(
        command, env=_env(display), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(proc: subprocess.Popen, timeout: float = 60.0) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"the viewer did not exit in time; stderr:\n{err}")
    return proc.returncode, err


def _wait_for_file(path: Path, proc: subprocess.Popen, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"the viewer exited early ({proc.returncode}): {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{path.name} did not appear within {timeout} s")
        time.sleep(0.1)


def _grab(display: str) -> np.ndarray:
    from PIL import ImageGrab

    return np.asarray(ImageGrab.grab(xdisplay=display).convert("RGB"))


def _viewport_box(image: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the avatar image in the viewport: what is not the viewport's background colour."""
    left, top = 325, 45  # inside the central dock node of the default layout, below the HUD line
    middle = image[top:-5, left:965].astype(int)
    content = np.abs(middle - np.array([15, 15, 18])).sum(-1) > 12
    rows, cols = np.nonzero(content.any(1))[0], np.nonzero(content.any(0))[0]
    assert rows.size and cols.size, "the viewport shows nothing"
    return left + cols[0], top + rows[0], left + cols[-1] + 1, top + rows[-1] + 1


def _xdotool(display: str, *args: str) -> None:
    subprocess.run(["xdotool", *args], env=_env(display), check=True, timeout=30)


# --------------------------------------------------------------------------------------- tests


def test_screenshot_shows_the_avatar_and_the_panels(display, tiny_model, tmp_path):
    shot = tmp_path / "window.png"
    proc = _start(display, tiny_model, "--view", "side-by-side", "--screenshot", str(shot), "--exit-after", "1")
    code, err = _finish(proc, START_TIMEOUT)
    assert code == 0, err
    window = np.asarray(Image.open(shot).convert("RGB"))
    assert window.shape == (WINDOW[1], WINDOW[0], 3)
    # Panels: the Pose panel's sliders on the left, text in the right column.
    assert ((window[:, :300] == SLIDER_GRAB).all(-1)).sum() > 50
    assert (window[40:400, 990:1260].max(-1) > 200).sum() > 500
    # Side by side: the shaded mesh (left) and the neural render (right) of the same view, each
    # letterboxed into half of the viewport.
    x0, y0, x1, y1 = _viewport_box(window)
    assert y0 > 50 and y1 < WINDOW[1] - 50  # square images keep their aspect in a wide-and-tall viewport
    half = (x1 - x0) // 2
    mesh = window[y0:y1, x0 : x0 + half].astype(float)
    neural = window[y0:y1, x1 - half : x1].astype(float)
    body = mesh.mean(-1) > 80  # the grey shaded body
    assert 0.03 < body.mean() < 0.6
    # The neural image shows the avatar: its pixels on the body differ from those around it.
    inside, outside = neural[body].mean(0), neural[~body].mean(0)
    assert np.abs(inside - outside).max() > 4


def _pose_slider(image: np.ndarray) -> tuple[int, int]:
    """Centre of the grab of the selected joint's second slider (rotation about the vertical axis)."""
    grabs = np.argwhere((image[:, :300] == SLIDER_GRAB).all(-1))
    top = grabs[:, 0].min()
    row = grabs[grabs[:, 0] < top + 14]  # the first row of sliders: the selected joint's x / y / z
    columns = np.sort(row[:, 1])
    splits = np.nonzero(np.diff(columns) > 4)[0]
    assert len(splits) == 2, "expected three slider grabs in the first row of the Pose panel"
    return int(columns[splits[0] + 1 : splits[1] + 1].mean()), int(row[:, 0].mean())


def _drag(display: str, x: int, y: int, dx: int, button: str = "1") -> None:
    _xdotool(display, "mousemove", str(x), str(y), "mousedown", button)
    for step in range(1, 9):
        _xdotool(display, "mousemove", str(x + dx * step // 8), str(y))
        time.sleep(0.05)
    _xdotool(display, "mouseup", button)


def _settled_view(display: str, box, reference: np.ndarray, changed: bool, timeout: float = 30.0) -> np.ndarray:
    """Grab the viewport until it differs from (``changed``) or matches ``reference``, and stops moving.

    Rendering is deterministic (same pose and camera, same pixels), so "matches" is strict.
    """
    x0, y0, x1, y1 = box
    deadline, previous = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        time.sleep(0.3)
        view = _grab(display)[y0:y1, x0:x1].astype(float)
        difference = np.abs(view - reference).mean()
        if (difference > 0.3 if changed else difference < 0.02) and previous is not None:
            if np.abs(view - previous).mean() < 0.02:  # no frame still on its way
                return view
        previous = view
    pytest.fail(f"the viewport did not {'change' if changed else 'return'} (mean difference {difference:.2f})")


def test_slider_and_mouse_input_change_the_neural_render(display, tiny_model, tmp_path):
    ready = tmp_path / "ready.png"
    proc = _start(display, tiny_model, "--screenshot", str(ready), "--exit-after", "120")
    try:
        _wait_for_file(ready, proc)
        time.sleep(0.5)
        window = _grab(display)
        box = _viewport_box(window)
        x0, y0, x1, y1 = box
        start = window[y0:y1, x0:x1].astype(float)
        # A pose slider dragged with the mouse: the body turns in the neural image.
        _drag(display, *_pose_slider(window), dx=48)
        posed = _settled_view(display, box, start, changed=True)
        # Left drag in the viewport orbits the camera ...
        centre = ((x0 + x1) // 2, (y0 + y1) // 2)
        _drag(display, *centre, dx=120)
        _settled_view(display, box, posed, changed=True)
        # ... and a double click resets it: the posed body's image comes back.
        _xdotool(display, "mousemove", *map(str, centre), "click", "--repeat", "2", "--delay", "60", "1")
        _settled_view(display, box, posed, changed=False)
    finally:
        proc.send_signal(signal.SIGTERM)
    code, err = _finish(proc)
    assert code == 0, err


def test_recording_two_seconds(display, tiny_model, tmp_path):
    out = tmp_path / "clip.mp4"
    proc = _start(
        display,
        tiny_model,
        "--record",
        str(out),
        "--record-fps",
        "20",
        "--record-size",
        "320x240",
        "--window-size",
        "1000x700",
        "--exit-after",
        "2",
    )
    code, err = _finish(proc, START_TIMEOUT)
    assert code == 0, err
    frames, width, height = count_video_frames(out)
    assert (width, height) == (320, 240)
    assert 36 <= frames <= 46, f"{frames} frames for 2 s at 20 fps"
    assert not list(tmp_path.glob(".*partial*"))


def test_sigterm_mid_recording_leaves_a_playable_video(display, tiny_model, tmp_path):
    out, ready = tmp_path / "clip.mp4", tmp_path / "ready.png"
    proc = _start(display, tiny_model, "--record", str(out), "--screenshot", str(ready), "--exit-after", "90")
    _wait_for_file(ready, proc)
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    code, err = _finish(proc)
    assert code == 0, err
    frames, width, height = count_video_frames(out)
    assert frames >= 20 and (width, height) == (512, 512)
    assert not list(tmp_path.glob(".*partial*"))


def test_a_model_that_fails_to_load_is_one_line_on_stderr(display, tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not an onnx file")
    proc = subprocess.Popen(
        viewer_command(str(bad)), env=_env(display), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    code, err = _finish(proc, START_TIMEOUT)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("smplpix-viewer: error:") and "broken.onnx" in lines[0]


def test_an_unusable_state_file_is_one_line_on_stderr(display, tiny_model, tmp_path):
    state = tmp_path / "pose.json"
    state.write_text('{"body_model": "anny", "pose": {"no_such_joint": [0, 0, 0]}}')
    code, err = _finish(_start(display, tiny_model, "--load-state", str(state)), START_TIMEOUT)
    assert code == 1
    assert err.strip().count("\n") == 0 and "no_such_joint" in err and "pose.json" in err


_COUNT_WINDOW_GL_THREADS = """
import os, sys
from smplpix_viewer.window import Window
window = Window(320, 240, gl_threads={threads})
renderer = window.ctx.info["GL_RENDERER"]
names = [open(f"/proc/self/task/{{t}}/comm").read().strip() for t in os.listdir("/proc/self/task")]
bits = window.ctx.screen.bits
window.close()
print(renderer.split()[0], sum(name.startswith("llvmpipe") for name in names), os.environ.get("LP_NUM_THREADS"))
print(bits["depth"], bits["stencil"])
"""


@pytest.mark.parametrize("threads", [0, 1])
def test_ui_gl_threads_sets_the_software_rasterizer_threads_of_the_window_only(display, threads):
    code = BOOTSTRAP + _COUNT_WINDOW_GL_THREADS.format(threads=threads)
    env = {k: v for k, v in _env(display).items() if k != "LP_NUM_THREADS"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    renderer, count, leftover, depth_bits, stencil_bits = result.stdout.split()
    assert (depth_bits, stencil_bits) == ("0", "0")  # the UI draws no 3D into the window: no depth buffer to clear
    if renderer != "llvmpipe":
        pytest.skip(f"the window's OpenGL is {renderer}, not Mesa llvmpipe")
    assert int(count) == threads
    assert leftover == "None"  # later contexts (the render worker's) get the driver's default again


def test_mouse_input_does_not_drive_the_ui_past_its_frame_rate_cap(display, tiny_model, tmp_path):
    ready, stats = tmp_path / "ready.png", tmp_path / "stats.json"
    cap = 20.0
    args = ("--ui-pacing", "cap", "--max-fps", str(cap), "--screenshot", str(ready), "--exit-after", "8")
    proc = _start(display, tiny_model, *args, "--stats-json", str(stats))
    try:
        _wait_for_file(ready, proc)
        # A few hundred pointer motions over the panels and the viewport: every one wakes the loop.
        moves = []
        for k in range(300):
            moves += ["mousemove", str(200 + (k * 37) % 700), str(150 + (k * 53) % 500), "sleep", "0.01"]
        _xdotool(display, *moves)
    finally:
        code, err = _finish(proc)
    assert code == 0, err
    measured = json.loads(stats.read_text())
    # Frames drawn since the viewer was ready, over the seconds since then: never above the cap.
    assert measured["ui_frames"] <= cap * measured["seconds"] * 1.05 + 2, measured


# Runs the viewer in its own process with partial redraws on and, after each frame, draws the same
# frame in full over it: the back buffer must not change, pixel for pixel. (So each frame's partial
# redraw starts from the full drawing of the frame before; by induction every frame is right.)
# Halfway it switches to the side-by-side view (the images move). At the end the screen's pixels
# (what was presented) must equal the back buffer.
PARTIAL_REDRAW_CHECK = r"""
import json, sys
import numpy as np
from imgui_bundle import imgui
from PIL import ImageGrab
from smplpix_viewer import viewer as viewer_module
from smplpix_viewer.damage import ClipRects, DamageTracker
from smplpix_viewer.main import build_parser
from smplpix_viewer.startup import open_viewer
from smplpix_viewer.state import ViewMode

args = build_parser().parse_args([sys.argv[1], "--size", "128", "--backend", "onnxruntime",
                                  "--partial-redraw", "on", "--script-random-edits", "60"])
viewer = open_viewer(args)
report = {"frames": 0, "partial": 0, "untouched": 0, "mismatched": []}
damage = DamageTracker.damage

def counting(self, lists, extra=()):
    boxes = damage(self, lists, extra)
    report["partial"] += boxes is not None and len(boxes) > 0
    report["untouched"] += boxes == []
    return boxes

DamageTracker.damage = counting
redraw = viewer_module.Viewer._redraw_changes

def checked(self, state, rect, now):
    clip = ClipRects(imgui.get_draw_data())
    redraw(self, state, rect, now)
    partial = self.window.read_screen()
    clip.restore()
    self.controller.draw_viewport(rect)  # the same frame in full, over it (the next frame starts from this)
    self.window.render_imgui()
    full = self.window.read_screen()
    report["frames"] += 1
    differ = int((partial != full).any(-1).sum())
    if differ:
        report["mismatched"].append([report["frames"], differ])
    if report["frames"] == 40:
        state.view.mode = ViewMode.SIDE_BY_SIDE

viewer_module.Viewer._redraw_changes = checked
try:
    viewer.window.show()
    viewer.run()
    back = viewer.window.read_screen()
    shown = np.asarray(ImageGrab.grab(xdisplay=sys.argv[2]).convert("RGB"))[: back.shape[0], : back.shape[1]]
    report["screen_differs"] = int((shown != back).any(-1).sum())
finally:
    viewer.controller.close()
    viewer.window.close()
print(json.dumps(report))
"""


def test_partial_redraws_match_full_redraws_pixel_for_pixel(display, tiny_model):
    code = BOOTSTRAP + PARTIAL_REDRAW_CHECK
    result = subprocess.run(
        [sys.executable, "-c", code, str(tiny_model), display],
        env=_env(display),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["frames"] >= 60, report
    assert report["partial"] >= 30, report  # most frames redrew only part of the window
    assert report["mismatched"] == [], report
    assert report["screen_differs"] == 0, report
