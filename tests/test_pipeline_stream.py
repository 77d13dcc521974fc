"""Batch rendering with overlapping stages gives the frames one-at-a-time rendering gives."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

pytestmark = pytest.mark.gl


@pytest.fixture(scope="module")
def pipeline():
    from smplpix_rt.pipeline import Pipeline, PipelineConfig

    with Pipeline.open(PipelineConfig(backend="onnxruntime", width=64, height=64)) as opened:
        yield opened


def _requests(pipeline, count: int):
    from smplpix_rt.body.sequence import demo_motion
    from smplpix_rt.camera import framing_orbit

    body = pipeline.body
    base = body.default_params()
    orbit = framing_orbit(body.forward(base).vertices)
    motion = demo_motion(body, count, 30.0)
    size = pipeline.width, pipeline.height
    return [
        (motion.params_at(i / 30.0, base), dataclasses.replace(orbit, yaw_deg=20.0 * i).camera(*size))
        for i in range(count)
    ]


def _generator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("smplpix-generate")]


def test_overlapped_frames_equal_one_at_a_time_frames_in_order(pipeline):
    requests = _requests(pipeline, 7)
    serial = [pipeline.render(p, c).image for p, c in requests]
    assert len({image.tobytes() for image in serial}) == len(serial)  # every frame differs: order is checked
    frames = list(pipeline.render_many(requests, overlap=True))
    assert len(frames) == len(requests)
    for got, want in zip(frames, serial, strict=True):
        np.testing.assert_array_equal(got.image, want)
        t = got.timings
        assert min(t.body_ms, t.raster_ms, t.generator_ms) > 0
        assert t.total_ms >= t.body_ms + t.raster_ms + t.generator_ms - 1e-6
    assert not _generator_threads()
    plain = list(pipeline.render_many(requests[:2], overlap=False))
    np.testing.assert_array_equal(plain[1].image, serial[1])


def test_stopping_early_or_a_failing_generator_leaves_no_thread_behind(pipeline, monkeypatch):
    requests = _requests(pipeline, 6)
    stream = pipeline.render_many(requests)
    next(stream)
    stream.close()  # the caller stops after one frame (e.g. the output disk is full)
    assert not _generator_threads()

    calls = []
    real = pipeline.generate

    def failing(gbuffer):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("generator failed on frame 3")
        return real(gbuffer)

    monkeypatch.setattr(pipeline, "generate", failing)
    got = []
    with pytest.raises(RuntimeError, match="frame 3"):
        for frame in pipeline.render_many(requests):
            got.append(frame)
    assert len(got) == 2 and not _generator_threads()
