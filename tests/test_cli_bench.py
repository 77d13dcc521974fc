"""``smplpix bench --viewer``: how the viewer runs are launched and summarized (the viewer itself is faked)."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import pytest

from smplpix_rt.cli import bench
from smplpix_rt.errors import SmplpixError


def _args(**kw) -> argparse.Namespace:
    base = {
        "size": (256, 256),
        "window_size": (1280, 800),
        "body_model": None,
        "body_model_path": None,
        "ui_gl_threads": 0,
        "ui_pacing": "auto",
        "ui_max_fps": 60.0,
        "overlap_stages": None,
        "gil_switch_ms": None,
        "render_nice": None,
        "partial_redraw": None,
        "whole_pixels": None,
    }
    return argparse.Namespace(**{**base, **kw})


def test_viewer_runs_are_summarized_against_the_pipeline_fps(monkeypatch):
    commands = []

    def fake_run(command, env, capture_output, text, timeout):
        commands.append((command, env["DISPLAY"]))
        stats = Path(command[command.index("--stats-json") + 1])
        stats.write_text(json.dumps({"ui_frame_ms_median": 12.0, "ui_frame_ms_p95": 17.0, "neural_fps": 36.0}))
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setenv("DISPLAY", ":42")
    monkeypatch.setattr(subprocess, "run", fake_run)
    timings = iter([40.0, 50.0, 30.0, 50.0])  # the pipeline alone before and after each run
    workloads = []

    def time_pipeline(workload):
        workloads.append(workload)
        return next(timings)

    report = bench._bench_viewer(_args(), Path("m.onnx"), "onnxruntime", time_pipeline)
    assert [name for name, *_ in bench.VIEWER_SCENARIOS] == ["random_edits", "playback"]
    # Each run is rated against the mean of the two timings around it, on the same kind of frames.
    assert workloads == ["random-edits", "random-edits", "demo", "demo"]
    assert report["pipeline_fps"] == {"random_edits": [40.0, 50.0], "playback": [30.0, 50.0]}
    assert report["random_edits"]["pipeline_fps"] == 45.0 and report["random_edits"]["neural_fps_share_of_bench"] == 0.8
    assert report["playback"]["pipeline_fps"] == 40.0 and report["playback"]["neural_fps_share_of_bench"] == 0.9
    for name, *_ in bench.VIEWER_SCENARIOS:
        assert report[name]["ui_frame_ms_median"] == 12.0 and report[name]["latency_ms_median"] is None
    first, display = commands[0]
    assert display == ":42"
    assert ["--backend", "onnxruntime"] == first[first.index("--backend") : first.index("--backend") + 2]
    assert "256x256" in first and "1280x800" in first and "--script-random-edits" in first
    assert first[first.index("--measure-alone-every") + 1] == "150"
    assert "--sequence" in commands[1][0] and first[first.index("--ui-gl-threads") + 1] == "0"
    assert first[first.index("--ui-pacing") + 1] == "auto" and first[first.index("--max-fps") + 1] == "60"
    assert not {"--overlap-stages", "--render-nice", "--gil-switch-ms", "--partial-redraw", "--whole-pixels"} & set(
        first
    )  # the viewer's defaults
    options = {
        "ui_gl_threads": 2,
        "ui_pacing": "cap",
        "ui_max_fps": 90.0,
        "overlap_stages": "off",
        "gil_switch_ms": 5.0,
        "render_nice": 0,
        "partial_redraw": "off",
        "whole_pixels": True,
    }
    bench._bench_viewer(_args(**options), Path("m.onnx"), "onnxruntime")
    last = commands[-1][0]
    assert last[last.index("--ui-gl-threads") + 1] == "2" and last[last.index("--ui-pacing") + 1] == "cap"
    assert last[last.index("--max-fps") + 1] == "90" and last[last.index("--overlap-stages") + 1] == "off"
    assert last[last.index("--gil-switch-ms") + 1] == "5" and last[last.index("--render-nice") + 1] == "0"
    assert last[last.index("--partial-redraw") + 1] == "off" and "--whole-pixels" in last


def test_a_failed_viewer_run_is_one_clear_error(monkeypatch):
    def fake_run(command, env, capture_output, text, timeout):
        return subprocess.CompletedProcess(command, 1, "", "Traceback ...\nsmplpix-viewer: error: no such model\n")

    monkeypatch.setenv("DISPLAY", ":42")
    monkeypatch.setattr(subprocess, "run", fake_run)
    with pytest.raises(SmplpixError, match=r"'random_edits' failed \(exit 1\): smplpix-viewer: error: no such model"):
        bench._bench_viewer(_args(), Path("m.onnx"), "onnxruntime")


def test_the_table_names_the_viewer_settings(capsys):
    scenario = {
        "ui_frame_ms_median": 11.0,
        "ui_frame_ms_p95": 15.0,
        "neural_fps": 40.0,
        "neural_fps_share_of_bench": 0.85,
        "neural_fps_share_of_alone": 0.9,
        "latency_ms_median": 33.0,
        "rss_mb_end": 600.0,
    }
    report = {
        "model": "m.onnx",
        "size": [256, 256],
        "frames": 60,
        "backends": [
            {
                "backend": "torch",
                "device": "cuda:0",
                "precision": "bf16",
                "frame_path": "interop",
                "body_ms": 1.4,
                "raster_ms": 0.5,
                "generator_ms": 1.7,
                "total_ms": 3.7,
                "end_to_end_fps": 264.0,
            }
        ],
        "skipped_backends": {},
        "viewer": {
            "window": [1280, 800],
            "backend": "onnxruntime",
            "ui_pacing": "frames",
            "ui_max_fps": 90.0,
            "pipeline_fps": {"random_edits": [47.0, 46.0], "playback": [46.0, 48.0]},
            "random_edits": {**scenario, "pipeline_fps": 46.5},
            "playback": {**scenario, "pipeline_fps": 47.0},
        },
    }
    bench._print_table(report)
    out = capsys.readouterr().out
    assert "cuda:0  bf16      interop" in out and "raster is the time to issue the draw" in out
    assert "UI pacing frames, cap 90 fps" in out and "timed before and after each run" in out
    assert "85% of the pipeline's 46.5 (90% of the render worker alone" in out and "latency 33.0 ms" in out


@pytest.mark.gl
def test_the_pipeline_is_timed_on_either_workload(tmp_path):
    from test_viewer_support import make_tiny_model

    from smplpix_rt.pipeline import Pipeline, PipelineConfig

    model = make_tiny_model(tmp_path / "tiny.onnx", size=64)
    with Pipeline.open(PipelineConfig(model, "onnxruntime", 64, 64)) as pipeline:
        for workload in ("demo", "random-edits"):
            result = bench._bench_pipeline(pipeline, 8, overlapped=False, workload=workload)
            assert result["end_to_end_fps"] > 0 and result["body_ms"] > 0 and "overlapped_fps" not in result
        with pytest.raises(ValueError, match="unknown workload"):
            bench._bench_pipeline(pipeline, 8, workload="walk")
