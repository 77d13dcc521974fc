"""The viewer's controller on a real pipeline in a headless EGL context (no window).

Covers what the panels ask for through actions: state files, undo, screenshots, live recording,
sequence playback and the deterministic sequence render, and a model that fails to load.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_viewer_support import make_tiny_model, viewer_module

from smplpix_rt.pipeline import PipelineConfig
from smplpix_rt.video import count_video_frames

pytestmark = pytest.mark.gl

controller_mod = viewer_module("controller")
session_mod = viewer_module("session")
state_mod = viewer_module("state")
Action = state_mod.Action
SIZE = 64


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny.onnx", size=SIZE)


@pytest.fixture
def controller(model, tmp_path):
    from smplpix_rt.raster import create_headless_context

    ctx = create_headless_context()  # stands in for the window's context
    config = PipelineConfig(model, "onnxruntime", SIZE, SIZE)
    session = session_mod.RenderSession(config, ctx)
    body = session.pipeline.body
    state = state_mod.AppState.create(body.spec, body.default_params(), session.home_camera, session.extras)
    state.record.folder, state.record.width, state.record.height = str(tmp_path), 96, 64
    ctl = controller_mod.Controller(state, session, config)
    yield ctl
    ctl.close()
    ctx.release()


def _settle(ctl, frames: int = 200) -> None:
    """Run controller frames until the newest edit is on screen (or give up)."""
    for _ in range(frames):
        ctl.update(1 / 30)
        state = ctl.state
        if not (state.params_dirty or state.camera_dirty) and ctl.session.worker.idle:
            ctl.update(1 / 30)
            return
        time.sleep(0.01)
    pytest.fail("the controller did not finish rendering")


def _decode(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _view(ctl) -> np.ndarray:
    return ctl.session.viewport.render_image(ctl.state.view, 96, 64)


def test_edits_render_and_undo_restores_the_image(controller):
    _settle(controller)
    first = _view(controller)
    assert controller.session.frames_shown >= 1 and first.std() > 1
    state = controller.state
    pose = state.params.pose.copy()
    pose[0, 1] = np.radians(80)  # turn the body
    state.edit(params=state.params.replace(pose=pose))
    state.commit()
    _settle(controller)
    turned = _view(controller)
    assert np.abs(turned.astype(int) - first).mean() > 1
    state.request(Action.UNDO)
    _settle(controller)
    assert np.abs(_view(controller).astype(int) - first).mean() < 0.5


def test_whole_pixel_zoom_shows_each_generator_pixel_as_a_square(controller):
    _settle(controller)
    view = controller.state.view
    view.whole_pixels = True
    # 64 px generator, 200x150 target: zoom 2 (128x128), centred at (36, 11)
    zoomed = controller.session.viewport.render_image(view, 200, 150)[11:139, 36:164].astype(int)
    blocks = zoomed.reshape(64, 2, 64, 2, 3)
    assert zoomed.std() > 1
    assert (blocks == blocks[:, :1, :, :1]).all()  # nearest-neighbour: 2x2 blocks of one colour
    view.whole_pixels = False
    smooth = controller.session.viewport.render_image(view, 200, 150)[:, 25:175].astype(int)  # fitted: 150x150
    rows = smooth.reshape(75, 2, 150, 3)
    assert (rows[:, 0] != rows[:, 1]).any()  # bilinear filling: neighbouring rows differ


def test_state_file_round_trip_and_errors_become_messages(controller, tmp_path):
    state = controller.state
    state.edit_camera(yaw_deg=30.0)
    state.state_path = str(tmp_path / "avatar.json")
    state.request(Action.SAVE_STATE)
    controller.update(0.0)
    saved = json.loads((tmp_path / "avatar.json").read_text())
    assert saved["camera"]["yaw_deg"] == 30.0
    state.edit_camera(yaw_deg=0.0)
    state.request(Action.LOAD_STATE)
    controller.update(0.0)
    assert controller.state.camera.yaw_deg == 30.0
    state.state_path = str(tmp_path / "missing.json")
    state.request(Action.LOAD_STATE)
    controller.update(0.0)
    assert state.messages[-1].error and "missing.json" in state.messages[-1].text


def test_viewport_screenshot_has_the_record_size(controller, tmp_path):
    _settle(controller)
    controller.state.request(Action.SCREENSHOT_VIEW)
    controller.update(0.0)
    path = Path(controller.state.record.last_output)
    assert path.parent == tmp_path and path.suffix == ".png"
    with Image.open(path) as image:
        assert image.size == (96, 64)


def test_live_recording_to_an_unwritable_folder_is_a_message(controller, tmp_path):
    controller.state.record.folder = str(tmp_path / "gone")
    controller.state.request(Action.RECORD_START)
    controller.update(0.0)
    assert controller.recorder is None and not controller.state.record.recording
    assert "does not exist" in controller.state.messages[-1].text


def test_live_recording_keeps_its_size_and_rate(controller, tmp_path):
    _settle(controller)
    controller.start_recording(tmp_path / "live.mp4")
    start = time.perf_counter()
    controller.record_frame(now=start)
    controller.record_frame(now=start + 0.5)  # 0.5 s at 30 fps: frames 1..15 repeat the image
    assert controller.stop_recording() == tmp_path / "live.mp4"
    assert count_video_frames(tmp_path / "live.mp4") == (16, 96, 64)


def _export(controller, path: Path, fps: float) -> np.ndarray:
    seq = controller.state.sequence
    seq.export_path, seq.export_fps = str(path), fps
    controller.state.request(Action.EXPORT_SEQUENCE)
    for _ in range(3000):
        controller.update(1 / 30)
        if seq.export_progress is None:
            return _decode(path)
        time.sleep(0.005)
    pytest.fail("the sequence render did not finish")


def test_sequence_render_is_a_fixed_time_step_and_cancellable(controller, tmp_path):
    seq = controller.state.sequence
    seq.path = "demo"
    controller.state.request(Action.LOAD_SEQUENCE)
    controller.update(0.0)
    assert seq.loaded_name == "demo" and seq.playing and seq.duration_s > 1
    controller.state.record.crf = 0  # lossless: decoded frames can be compared exactly
    at_10 = _export(controller, tmp_path / "a.mp4", 10.0)
    seq.time_s = 1.234  # neither the playback position ...
    time.sleep(0.3)  # ... nor the wall clock changes the result
    again = _export(controller, tmp_path / "b.mp4", 10.0)
    at_5 = _export(controller, tmp_path / "c.mp4", 5.0)
    assert at_10.shape == (int(seq.duration_s * 10 + 1e-6) + 1, SIZE, SIZE, 3)
    assert np.array_equal(at_10, again)
    assert np.array_equal(at_5, at_10[::2])  # frame i shows time i / fps
    assert np.abs(at_10[0].astype(int) - at_10[10]).mean() > 0.5  # the body moves
    seq.export_path = str(tmp_path / "cancelled.mp4")
    controller.state.request(Action.EXPORT_SEQUENCE)
    controller.update(1 / 30)
    controller.state.request(Action.CANCEL_EXPORT)
    controller.update(1 / 30)
    assert seq.export_progress is None and not list(tmp_path.glob("*cancelled*"))


def test_a_model_that_fails_to_load_keeps_the_current_one(controller, tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a model")
    before = controller.session
    controller.state.model.path = str(bad)
    controller.state.request(Action.LOAD_MODEL)
    controller.update(0.0)
    assert controller.session is before
    message = controller.state.messages[-1]
    assert message.error and "broken.onnx" in message.text


def test_latency_runs_from_the_edit_to_the_presentation_of_its_frame(controller):
    _settle(controller)
    session, state = controller.session, controller.state
    session.presented()  # the settled frame is on screen
    count = len(session.latencies)
    edit_time = time.perf_counter()
    pose = state.params.pose.copy()
    pose[0, 1] = np.radians(30)
    state.edit(params=state.params.replace(pose=pose), now=edit_time)
    _settle(controller)
    assert len(session.latencies) == count  # shown in the viewport texture, not yet swapped to the screen
    session.presented(edit_time + 0.25)
    assert len(session.latencies) == count + 1 and session.latencies[-1] == pytest.approx(250.0)
    session.presented(edit_time + 0.5)  # nothing new was shown since
    assert len(session.latencies) == count + 1 and session.latency_ms == pytest.approx(250.0)


def test_stages_overlap_while_a_sequence_plays_and_not_while_editing(controller):
    session, state = controller.session, controller.state
    assert session.options.overlap == "auto"
    _settle(controller)
    assert not session.worker.overlap  # edits: each frame's stages one after another (lowest latency)
    shown = session.frames_shown
    state.sequence.path = "demo"
    state.request(Action.LOAD_SEQUENCE)
    controller.update(0.0)
    assert state.sequence.playing and session.worker.overlap
    deadline = time.perf_counter() + 20
    while session.frames_shown < shown + 5 and time.perf_counter() < deadline:
        controller.update(1 / 30)
        time.sleep(0.005)
    assert session.frames_shown >= shown + 5  # playback frames come through both stages
    state.sequence.playing = False
    controller.update(0.0)
    assert not session.worker.overlap


def test_worker_options_are_checked():
    with pytest.raises(ValueError, match="overlap must be one of"):
        session_mod.WorkerOptions(overlap="always")
    with pytest.raises(ValueError, match="nice must lie in"):
        session_mod.WorkerOptions(nice=25)


def _busy_worker_edit(ctl):
    """Hold the worker in its first stage (it poses under ``body_lock``), then make an edit."""
    session, state = ctl.session, ctl.state
    _settle(ctl)
    session.body_lock.acquire()
    session.worker.submit(session.job(state.params, state.camera))
    deadline = time.perf_counter() + 10
    while session.worker.has_pending and time.perf_counter() < deadline:  # until the worker takes it
        time.sleep(0.005)
    assert not session.worker.ready and not session.worker.has_pending
    pose = state.params.pose.copy()
    pose[0, 1] = np.radians(20)
    state.edit(params=state.params.replace(pose=pose), now=time.perf_counter())
    ctl.update(1 / 30)


@pytest.mark.parametrize("hold", [True, False])
def test_edits_wait_in_the_state_while_the_worker_is_busy_when_held(controller, hold):
    session = controller.session
    session.options = session_mod.WorkerOptions(hold_edits=hold)
    try:
        _busy_worker_edit(controller)
        # held: the edit stays in the state, to go to the worker once it is free; otherwise it
        # waits in the worker's queue
        assert controller.state.params_dirty is hold
        assert session.worker.has_pending is not hold
    finally:
        session.body_lock.release()
    _settle(controller)
    assert not controller.state.params_dirty and session.worker.idle


def test_time_alone_renders_every_job_and_leaves_nothing_to_show(controller):
    _settle(controller)
    session, state = controller.session, controller.state
    jobs = [session.job(state.params, state.camera) for _ in range(5)]
    completed = session.worker.completed
    fps = session.time_alone(jobs)
    assert fps > 0 and session.worker.completed == completed + 5
    assert session.worker.poll() is None and session.worker.idle


def test_measure_alone_pauses_rate_each_stretch_of_edits(controller, monkeypatch):
    automation_mod = viewer_module("automation")
    monkeypatch.setattr(automation_mod, "ALONE_FRAMES", 4)
    options = automation_mod.AutomationOptions(random_edits=6, measure_alone_every=3)
    automation = automation_mod.Automation(options, controller)
    session = controller.session
    deadline = time.perf_counter() + 60
    while not automation.finished and time.perf_counter() < deadline:
        automation.before_update(controller.state, time.perf_counter())
        controller.update(1 / 30)
        if automation.editing:
            session.worker.wait(10)  # one edit per neural frame, as the frame-paced loop makes them
        time.sleep(0.002)
    assert automation.finished
    report = automation.report()
    assert len(report["alone_fps"]) == 3  # before the first edit, after the third, at the end
    assert len(report["stretch_fps"]) == len(report["share_of_alone_per_stretch"]) == 2
    stretch, alone = report["stretch_fps"], report["alone_fps"]
    for k, share in enumerate(report["share_of_alone_per_stretch"]):
        assert share == pytest.approx(stretch[k] / ((alone[k] + alone[k + 1]) / 2), rel=0.02)
    assert report["neural_fps_share_of_alone"] > 0
    # the timings' own frames are not the viewer's: 3 x 4 of them are left out
    assert report["neural_frames"] <= report["edits"] + 1


def test_the_worker_alone_renders_edits_like_the_script(controller, monkeypatch):
    """The timed states follow each other as the scripted edits do: a new shape every 7th, not back and forth."""
    automation_mod = viewer_module("automation")
    captured = []
    monkeypatch.setattr(controller.session, "time_alone", lambda jobs: captured.extend(jobs) or 1.0)
    automation = automation_mod.Automation(automation_mod.AutomationOptions(random_edits=1), controller)
    automation._time_alone(controller.state, time.perf_counter())
    assert len(captured) == automation_mod.ALONE_FRAMES
    shapes = [controller.state.params.shape] + [job.params.shape for job in captured]
    changed = [k for k in range(len(captured)) if not np.array_equal(shapes[k + 1], shapes[k])]
    assert changed == list(range(0, len(captured), 7))
