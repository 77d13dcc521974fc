"""The viewer's non-GUI parts: state history, the inference worker, recording, export timing, joints, camera input."""

from __future__ import annotations

import os
import sys
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
from test_viewer_support import viewer_module

from smplpix_rt.camera import OrbitCamera
from smplpix_rt.contracts import BodyParams, BodySpec, GBuffer
from smplpix_rt.errors import InputError
from smplpix_rt.video import count_video_frames

state_mod = viewer_module("state")
inference = viewer_module("inference")
recorder_mod = viewer_module("recorder")
export_mod = viewer_module("export")
joints = viewer_module("joints")
viewport = viewer_module("viewport")
presets = viewer_module("presets")


def _spec(names: list[str], parents: list[int]) -> BodySpec:
    j = len(names)
    limits = np.tile(np.array([-90.0, 90.0], np.float32), (j, 3, 1))
    return BodySpec(
        "test",
        "1",
        tuple(names),
        np.array(parents),
        ("height",),
        np.array([[0.0, 1.0]], np.float32),
        np.array([0.5], np.float32),
        ("smile",),
        np.array([[0.0, 1.0]], np.float32),
        limits,
    )


def _state() -> state_mod.AppState:
    spec = _spec(["root", "spine", "neck", "head"], [-1, 0, 1, 2])
    neutral = BodyParams(np.zeros((4, 3), np.float32), np.array([0.5], np.float32), np.zeros(1, np.float32))
    extras = presets.BodyExtras(groups=joints.joint_groups(spec))
    return state_mod.AppState.create(spec, neutral, OrbitCamera(), extras)


def _gbuffer(value: float = 0.0) -> GBuffer:
    plane = np.full((4, 4, 4), value, np.float32)
    return GBuffer("neural", (plane,), np.zeros((4, 4), bool))


# ------------------------------------------------------------------------------------ history


def test_edits_undo_and_redo_in_order():
    state = _state()
    first = state.avatar
    pose = state.params.pose.copy()
    pose[1, 0] = 0.5
    state.edit(params=state.params.replace(pose=pose))
    assert state.params_dirty and state.uncommitted
    state.commit()
    state.edit_camera(yaw_deg=45.0)
    state.commit()
    assert state.undo() and state.camera.yaw_deg == 0.0 and state.params.pose[1, 0] == pytest.approx(0.5)
    assert state.undo() and state.avatar is first
    assert not state.undo()  # nothing older
    assert state.redo() and state.params.pose[1, 0] == pytest.approx(0.5)
    assert state.redo() and state.camera.yaw_deg == 45.0
    assert not state.redo()


def test_a_slider_drag_is_one_undo_step_and_a_new_edit_clears_redo():
    state = _state()
    for yaw in (10.0, 20.0, 30.0):  # one drag: several frames, committed once at the end
        state.edit_camera(yaw_deg=yaw)
    state.commit()
    assert len(state.history) == 2
    state.undo()
    assert state.camera.yaw_deg == 0.0 and state.history.can_redo
    state.edit_camera(pitch_deg=5.0)
    state.commit()
    assert not state.history.can_redo


def test_playback_edits_do_not_enter_the_history():
    state = _state()
    state.edit(params=state.params.replace(translation=np.ones(3)), user=False)
    state.commit()
    assert len(state.history) == 1 and state.params_dirty


# ----------------------------------------------------------------------------------- inference


class _GatedGenerator:
    """A generator that waits for permission, so tests control when frames finish."""

    def __init__(self) -> None:
        self.gate = threading.Semaphore(0)
        self.started = threading.Event()
        self.seen: list[float] = []

    def __call__(self, gbuffer: GBuffer) -> np.ndarray:
        self.started.set()
        self.gate.acquire()
        value = float(gbuffer.planes[0][0, 0, 0])
        self.seen.append(value)
        if value < 0:
            raise RuntimeError("bad input")
        return np.full((4, 4, 3), int(value), np.uint8)


def test_latest_request_wins_and_stale_requests_never_run():
    gen = _GatedGenerator()
    worker = inference.InferenceWorker(gen)
    try:
        worker.submit(_gbuffer(1), edit_time=1.0)
        assert gen.started.wait(5)
        worker.submit(_gbuffer(2), edit_time=2.0)  # waits...
        last = worker.submit(_gbuffer(3), edit_time=3.0)  # ...and is replaced by this one
        assert not worker.has_result
        for _ in range(2):
            gen.gate.release()
        deadline = time.perf_counter() + 5
        while not worker.has_result and time.perf_counter() < deadline:
            time.sleep(0.001)
        assert worker.has_result  # the UI loop's wait ends on this (see smplpix_viewer.pacing)
        result = worker.wait(timeout=5)
        assert result.request_id == last and int(result.output[0, 0, 0]) == 3
        assert gen.seen == [1.0, 3.0] and worker.dropped_requests == 1
        assert result.edit_time == 2.0  # the dropped edit is shown by this frame: latency counts from it
        assert worker.poll() is None and not worker.has_result  # a result is handed out once
    finally:
        gen.gate.release()
        worker.close()


def test_worker_start_failure_is_raised_to_the_caller_and_stop_still_runs():
    stopped = []

    def start():
        raise ValueError("model file is broken")

    worker = inference.InferenceWorker(lambda job: job, start=start, stop=lambda: stopped.append(True))
    with pytest.raises(ValueError, match="broken"):
        worker.wait_started(timeout=5)
    worker.close()
    assert stopped == [True]


def test_a_failing_generator_reports_and_keeps_serving():
    gen = _GatedGenerator()
    worker = inference.InferenceWorker(gen)
    try:
        gen.gate.release()
        worker.submit(_gbuffer(-1))
        failed = worker.wait(timeout=5)
        assert failed.output is None and "bad input" in failed.error
        gen.gate.release()
        worker.submit(_gbuffer(7))
        assert int(worker.wait(timeout=5).output[0, 0, 0]) == 7
    finally:
        worker.close()


class _TwoStages:
    """A first and a second stage that each wait for permission and log what they do."""

    def __init__(self, failing: tuple[tuple[int, int], ...] = ()) -> None:
        self.failing = failing  # (stage, job) pairs that raise
        self.gates = {1: threading.Semaphore(0), 2: threading.Semaphore(0)}
        self.log: list[tuple[int, str, int]] = []  # (stage, "start" | "end", job)
        self.lock = threading.Lock()

    def _stage(self, number: int, job: int) -> int:
        with self.lock:
            self.log.append((number, "start", job))
        self.gates[number].acquire()
        with self.lock:
            self.log.append((number, "end", job))
        if (number, job) in self.failing:
            raise RuntimeError(f"stage {number} failed")
        return job

    def first(self, job: int) -> int:
        return self._stage(1, job)

    def second(self, job: int) -> int:
        return self._stage(2, job) * 10

    def wait_for(self, entry: tuple[int, str, int]) -> None:
        deadline = time.perf_counter() + 5
        while entry not in self.log:
            assert time.perf_counter() < deadline, f"{entry} did not happen: {self.log}"
            time.sleep(0.001)


def _wait_until(condition, what: str) -> None:
    deadline = time.perf_counter() + 5
    while not condition():
        assert time.perf_counter() < deadline, what
        time.sleep(0.001)


@pytest.mark.parametrize("overlap", [True, False])
def test_two_stages_overlap_only_when_asked(overlap):
    stages = _TwoStages()
    woken = []
    worker = inference.InferenceWorker(stages.first, lambda: woken.append(1), finish=stages.second, overlap=overlap)
    try:
        assert worker.overlap is overlap and worker.ready
        worker.submit(1)
        assert not worker.ready
        stages.wait_for((1, "start", 1))
        stages.gates[1].release()
        stages.wait_for((2, "start", 1))  # the generator stage has taken request 1 ...
        # ... which frees the first stage when overlapping (and wakes the UI), not otherwise
        if overlap:
            _wait_until(lambda: woken, "the worker did not wake the UI when its second stage took the request")
        assert worker.ready is overlap and not worker.idle and len(woken) == int(overlap)
        worker.submit(2)
        if overlap:
            stages.wait_for((1, "start", 2))  # request 2 is posed while request 1 is generated
            assert (2, "end", 1) not in stages.log
        else:
            time.sleep(0.05)
            assert (1, "start", 2) not in stages.log and worker.has_pending
        stages.gates[2].release()
        stages.gates[1].release()
        stages.gates[2].release()
        result = worker.wait(timeout=5)
        assert result.output == 20 and result.error is None
        assert worker.completed == 2 and worker.idle
        if not overlap:
            assert stages.log.index((2, "end", 1)) < stages.log.index((1, "start", 2))
    finally:
        for gate in stages.gates.values():
            gate.release()
        worker.close()


def test_overlap_can_be_switched_while_running():
    stages = _TwoStages()
    worker = inference.InferenceWorker(stages.first, finish=stages.second, overlap=False)
    try:
        worker.submit(1)
        stages.gates[1].release()
        stages.wait_for((2, "start", 1))
        worker.submit(2)
        time.sleep(0.05)
        assert (1, "start", 2) not in stages.log
        worker.overlap = True  # e.g. a sequence starts playing: request 2 starts at once
        stages.wait_for((1, "start", 2))
        stages.gates[2].release()
        stages.gates[1].release()
        stages.gates[2].release()
        assert worker.wait(timeout=5).output == 20
    finally:
        for gate in stages.gates.values():
            gate.release()
        worker.close()


def test_failures_in_either_stage_are_reported_and_the_worker_keeps_serving():
    stages = _TwoStages(failing=((1, 1), (2, 2)))
    stopped = []
    worker = inference.InferenceWorker(
        stages.first, finish=stages.second, stop=lambda: stopped.append(list(stages.log))
    )
    try:
        stages.gates[1].release()
        worker.submit(1)  # fails in the first stage: the second never sees it
        failed = worker.wait(timeout=5)
        assert failed.output is None and "stage 1 failed" in failed.error
        assert not any(stage == 2 for stage, _, _ in stages.log)
        stages.gates[1].release()
        stages.gates[2].release()
        worker.submit(2)  # fails in the second stage
        assert "stage 2 failed" in worker.wait(timeout=5).error
        stages.gates[1].release()
        stages.gates[2].release()
        worker.submit(3)
        assert worker.wait(timeout=5).output == 30
    finally:
        worker.close()
    # stop ran last, after both stages had ended
    assert stopped and stopped[0][-1] == (2, "end", 3)


def test_close_waits_for_the_second_stage_before_stop():
    stages = _TwoStages()
    order = []
    worker = inference.InferenceWorker(stages.first, finish=stages.second, stop=lambda: order.append("stop"))
    worker.submit(1)
    stages.gates[1].release()
    stages.wait_for((2, "start", 1))
    closer = threading.Thread(target=worker.close)
    closer.start()
    time.sleep(0.05)
    assert order == []  # the generator stage still runs: the pipeline must not be released yet
    stages.gates[2].release()
    closer.join(5)
    assert order == ["stop"] and (2, "end", 1) in stages.log


# ------------------------------------------------------------------------------------ recording


def test_recorder_keeps_a_constant_frame_rate_and_finalizes(tmp_path):
    rec = recorder_mod.VideoRecorder(tmp_path / "clip.mp4", 10, 64, 48)
    frame = np.zeros((48, 64, 3), np.uint8)
    assert rec.frames_due(now=100.0) == 1  # the first call starts the clock
    rec.write(frame)
    assert rec.frames_due(now=100.05) == 0  # too early for the next frame ...
    assert rec.seconds_until_due(100.05) == pytest.approx(0.05)  # ... which is due in 50 ms
    due = rec.frames_due(now=100.35)  # a slow UI frame: the image is repeated
    assert due == 3
    rec.write(frame, due)
    path = rec.stop()
    assert path == tmp_path / "clip.mp4"
    assert count_video_frames(path) == (4, 64, 48)
    assert not list(tmp_path.glob(".*partial*"))


def test_recorder_clock_can_start_before_the_first_frame(tmp_path):
    rec = recorder_mod.VideoRecorder(tmp_path / "clip.mp4", 10, 32, 32)
    rec.start_clock(99.0)  # e.g. when a scripted capture became ready, one slow UI frame earlier
    due = rec.frames_due(now=100.0)
    assert due == 11
    rec.write(np.zeros((32, 32, 3), np.uint8), due)
    assert count_video_frames(rec.stop())[0] == 11


def test_recorder_rejects_a_missing_folder_and_wrong_frames(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        recorder_mod.VideoRecorder(tmp_path / "nope" / "clip.mp4", 30, 64, 64)
    rec = recorder_mod.VideoRecorder(tmp_path / "clip.mp4", 30, 64, 64)
    with pytest.raises(InputError, match=r"\(64, 64, 3\)"):
        rec.write(np.zeros((32, 32, 3), np.uint8))
    assert rec.stop() is None and not list(tmp_path.iterdir())  # no frame: nothing left on disk


def test_recorder_reports_a_write_failure_and_keeps_the_frames_so_far(tmp_path):
    rec = recorder_mod.VideoRecorder(tmp_path / "clip.mp4", 30, 32, 32)
    frame = np.zeros((32, 32, 3), np.uint8)
    rec.write(frame, 5)
    real_write, calls = rec._writer.write, []

    def full_disk(image):
        calls.append(1)
        raise OSError(28, "No space left on device")

    while rec.frames_written < 5:  # let the encoder take the first frames
        threading.Event().wait(0.01)
    rec._writer.write = full_disk
    rec.write(frame)
    while rec.active:
        threading.Event().wait(0.01)
    assert "No space left on device" in rec.error
    rec._writer.write = real_write
    assert rec.stop() == tmp_path / "clip.mp4"
    assert count_video_frames(tmp_path / "clip.mp4")[0] == 5


def test_gif_recording(tmp_path):
    rec = recorder_mod.VideoRecorder(tmp_path / "clip.gif", 10, 32, 24)
    for value in (0, 120, 240):
        rec.write(np.full((24, 32, 3), value, np.uint8))
    path = rec.stop()
    from PIL import Image

    with Image.open(path) as gif:
        assert gif.size == (32, 24) and gif.n_frames == 3


def test_export_frame_times_are_a_fixed_step():
    times = export_mod.export_frame_times(2.0, 10)
    assert len(times) == 21 and times[0] == 0.0 and times[-1] == pytest.approx(2.0)
    np.testing.assert_allclose(np.diff(times), 0.1)
    with pytest.raises(InputError):
        export_mod.export_frame_times(1.0, 0)


# -------------------------------------------------------------------------------------- joints


def test_joint_groups_for_anny_style_names():
    names = [
        "root",
        "spine01",
        "neck01",
        "neck02",
        "head",
        "eye.L",
        "clavicle.L",
        "wrist.L",
        "finger1-1.L",
        "clavicle.R",
        "wrist.R",
        "finger1-1.R",
        "upperleg01.L",
    ]
    parents = [-1, 0, 1, 2, 3, 4, 1, 6, 7, 1, 9, 10, 0]
    groups = {g.name: g for g in joints.joint_groups(_spec(names, parents))}
    member = {g: sorted(names[j] for j in grp.children) for g, grp in groups.items()}
    assert member["Head"] == ["eye.L", "head", "neck01", "neck02"]
    assert member["Left hand"] == ["finger1-1.L"] and member["Right hand"] == ["finger1-1.R"]
    assert "wrist.L" in member["Body"] and "upperleg01.L" in member["Body"]
    assert groups["Body"].roots == (0,) and groups["Head"].roots == (2,)


def test_joint_groups_for_smplx_style_names():
    names = ["pelvis", "spine3", "neck", "head", "jaw", "left_wrist", "left_index1", "right_wrist", "right_thumb1"]
    parents = [-1, 0, 1, 2, 3, 1, 5, 1, 7]
    groups = {g.name: sorted(names[j] for j in g.children) for g in joints.joint_groups(_spec(names, parents))}
    assert groups["Head"] == ["head", "jaw", "neck"]
    assert groups["Left hand"] == ["left_index1"] and groups["Right hand"] == ["right_thumb1"]


# ------------------------------------------------------------------------------ viewport maths


def test_fit_rect_keeps_the_aspect_ratio_and_centres():
    assert viewport.fit_rect(256, 256, (0, 0, 800, 400)) == (200, 0, 400, 400)
    x, y, w, h = viewport.fit_rect(512, 256, (10, 20, 300, 300))
    assert (w, h) == (300, 150) and (x, y) == (10, 95)


def test_whole_zoom_rect_zooms_by_whole_numbers_and_falls_back_to_fitting():
    assert viewport.whole_zoom_rect(256, 256, (0, 19, 650, 781)) == (69, 153, 512, 512)  # zoom 2, centred
    assert viewport.whole_zoom_rect(256, 128, (0, 0, 1000, 1000)) == (116, 308, 768, 384)  # zoom 3
    assert viewport.whole_zoom_rect(512, 512, (0, 0, 400, 300)) == viewport.fit_rect(512, 512, (0, 0, 400, 300))


def test_image_rects_follow_the_view_mode_and_zoom():
    view = state_mod.ViewSettings(mode=state_mod.ViewMode.SIDE_BY_SIDE)
    left, right = viewport.image_rects(view, (64, 64), (0, 0, 400, 200))
    assert left == (0, 0, 200, 200) and right == (200, 0, 200, 200)
    view.whole_pixels = True
    left, right = viewport.image_rects(view, (64, 64), (0, 0, 400, 200))
    assert left == (4, 4, 192, 192) and right == (204, 4, 192, 192)


def test_gbuffer_display_range_follows_the_channel_names():
    neural0 = ("rest_x", "rest_y", "rest_z", "mask")
    assert viewport.display_range(neural0, "rgb") == (0.5, 0.5)  # [-1, 1] coordinates
    assert viewport.display_range(neural0, "a") == (1.0, 0.0)  # the mask is already in [0, 1]
    assert viewport.display_range(("red", "green", "blue", "mask"), "rgb") == (1.0, 0.0)


def test_camera_drags_orbit_pan_and_zoom():
    camera = OrbitCamera(distance=3.0)
    turned = viewport.orbit_drag(camera, 100, 0)
    assert turned.yaw_deg == pytest.approx(-100 * viewport.ORBIT_DEG_PER_PIXEL)
    assert viewport.orbit_drag(camera, 0, 1e6).pitch_deg == 89.0
    panned = viewport.pan_drag(camera, 10, 0, 500)
    assert panned.pan[0] < 0 and panned.pan[1] == 0  # the body follows the mouse to the right
    assert viewport.wheel_zoom(camera, 1).distance < 3.0 < viewport.wheel_zoom(camera, -1).distance
    assert viewport.wheel_zoom(camera, 1000).distance == viewport.DISTANCE_RANGE[0]


def test_screenshot_waits_for_the_layout_and_the_delay_then_is_taken_once(tmp_path):
    automation = viewer_module("automation")
    session = SimpleNamespace(frames_shown=1, worker=SimpleNamespace(completed=0))
    shot = tmp_path / "window.png"
    options = automation.AutomationOptions(screenshot=shot, screenshot_delay=2.0, exit_after=5.0)
    auto = automation.Automation(options, SimpleNamespace(session=session))
    auto.before_update(None, 100.0)  # the first avatar frame is on screen: ready
    assert auto.wait_time(100.0) == 0.0  # the layout settles over a few frames drawn at once
    now = 100.0
    for _ in range(automation.SCREENSHOT_SETTLE_FRAMES):
        now += 0.01
        auto.before_update(None, now)
        assert not auto.screenshot_due
    assert auto.wait_time(now) == pytest.approx(100.0 + 2.0 - now)  # then it sleeps until the delay is up
    auto.before_update(None, 102.0)
    assert auto.screenshot_due
    auto.after_draw(lambda: np.zeros((4, 6, 3), np.uint8))
    assert shot.exists() and not auto.screenshot_pending
    auto.before_update(None, 102.5)
    assert not auto.screenshot_due and auto.wait_time(102.5) == pytest.approx(2.5)  # only --exit-after is left


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--screenshot-delay", "2"], "--screenshot-delay needs --screenshot"),
        (["--screenshot", "a.png", "--screenshot-delay", "3", "--exit-after", "3"], "shorter than --exit-after"),
        (["--render-nice", "20"], "--render-nice: expected a whole number from 0 to 19, got '20'"),
        (["--overlap-stages", "always"], "--overlap-stages: invalid choice: 'always'"),
        (["--gil-switch-ms", "0"], "--gil-switch-ms: expected a positive number"),
        (["--measure-alone-every", "150"], "--measure-alone-every needs --script-random-edits"),
    ],
)
def test_arguments_that_cannot_work_are_refused(args, message, capsys):
    main = viewer_module("main")
    with pytest.raises(SystemExit) as exit_info:
        main.main(args)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux behaviour")
def test_lower_thread_priority_applies_to_the_thread_and_the_threads_it_starts():
    session = viewer_module("session")
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen = {}

    def child():
        seen["child"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def worker():
        session.lower_thread_priority(3)
        seen["worker"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        started = threading.Thread(target=child)
        started.start()
        started.join()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == {"worker": min(19, base + 3), "child": min(19, base + 3)}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base  # the caller's thread keeps its own


def test_poll_all_hands_out_every_finished_result_in_order():
    stages = _TwoStages()
    worker = inference.InferenceWorker(stages.first, finish=stages.second, overlap=True)
    try:
        worker.submit(1, tag="a")
        stages.gates[1].release()
        stages.wait_for((2, "start", 1))
        worker.submit(2, tag="b")  # starts at once: the stages overlap
        stages.gates[1].release()
        stages.wait_for((1, "end", 2))
        stages.gates[2].release()
        stages.gates[2].release()
        _wait_until(lambda: worker.completed == 2, "both requests should finish")
        both = worker.poll_all()  # both finished before anyone collected them
        assert [(r.tag, r.output) for r in both] == [("a", 10), ("b", 20)]
        assert worker.poll_all() == [] and worker.poll() is None
        stages.gates[1].release()
        stages.gates[2].release()
        worker.submit(3)
        assert worker.wait(timeout=5).output == 30  # poll() after poll_all(): the newest only
    finally:
        for gate in stages.gates.values():
            gate.release()
        worker.close()
