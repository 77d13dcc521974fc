"""Encoding video on a background thread: live viewport recordings and offline sequence renders.

For a live recording :class:`VideoRecorder` keeps a constant frame rate for a live capture: at every UI frame the loop
asks :meth:`VideoRecorder.frames_due` how many output frames the wall clock has reached since the
start, grabs the viewport once at the fixed output size and :meth:`VideoRecorder.write`\\ s it that
many times (a slow UI frame repeats the image, a fast one adds nothing). Encoding happens on the
recorder's thread. :meth:`VideoRecorder.stop` always finalizes the file, so a recording ended by a
signal, a closed window or an error plays with every frame written so far.

A failure while writing (disk full, folder removed) stops the recording, keeps what was written,
and is reported through :attr:`VideoRecorder.error`; the viewer keeps running.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from pathlib import Path

import numpy as np

from smplpix_rt.errors import InputError
from smplpix_rt.video import VideoWriter

_STOP = object()


class VideoRecorder:
    """One MP4 recording at a fixed size and a constant frame rate.

    Args:
        path: output ``.mp4`` / ``.mkv`` / ``.mov`` (H.264) or ``.gif`` file, written as a hidden partial
            file and renamed when finished.
        fps: frames per second.
        width, height: output size in pixels; every frame must have this size.
        crf: x264 quality (lower is better).
        max_queued: frames waiting for the encoder before :meth:`write` blocks.

    Raises:
        InputError: the folder does not exist, is not writable, or the settings are invalid.
    """

    def __init__(
        self, path: str | Path, fps: float, width: int, height: int, crf: int = 20, max_queued: int = 64
    ) -> None:
        path = Path(path).expanduser()
        if not path.parent.is_dir():
            raise InputError(f"cannot record to {path}: folder {path.parent} does not exist")
        try:
            if path.suffix.lower() == ".gif":
                self._writer = GifWriter(path, fps, width, height)
            else:
                self._writer = VideoWriter(path, fps, width, height, crf=crf, preset="veryfast")
        except OSError as exc:
            raise InputError(f"cannot record to {path}: {exc.strerror or exc}") from None
        self.path, self.fps, self.width, self.height = path, float(fps), width, height
        self._queue: queue.Queue = queue.Queue(maxsize=max_queued)
        self._start: float | None = None
        self._queued = 0
        self._error: str | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self._aborted = False
        self._thread = threading.Thread(target=self._run, name="smplpix-recorder", daemon=True)
        self._thread.start()

    @property
    def frames_written(self) -> int:
        """Frames the encoder has accepted so far."""
        return self._writer.frames_written

    @property
    def frames_queued(self) -> int:
        """Frames handed to :meth:`write` so far."""
        return self._queued

    @property
    def error(self) -> str | None:
        """Why the recording stopped early, or None."""
        with self._lock:
            return self._error

    @property
    def active(self) -> bool:
        """Still accepting frames (not stopped, no error)."""
        return not self._stopped and self.error is None

    def start_clock(self, now: float) -> None:
        """Set the time of output frame 0 (``perf_counter`` seconds); by default the first :meth:`frames_due`."""
        if self._start is None:
            self._start = now

    def frames_due(self, now: float | None = None) -> int:
        """How many output frames the wall clock has reached and not yet been written.

        The first call starts the clock (unless :meth:`start_clock` did) and asks for one frame.
        """
        now = time.perf_counter() if now is None else now
        self.start_clock(now)
        target = math.floor((now - self._start) * self.fps) + 1
        return max(0, target - self._queued)

    def seconds_until_due(self, now: float) -> float:
        """Time until the next output frame is due (0 if one is due now or the clock has not started)."""
        if self._start is None:
            return 0.0
        return max(0.0, self._start + self._queued / self.fps - now)

    def write(self, image: np.ndarray, repeat: int = 1) -> None:
        """Queue ``image`` ((height, width, 3) uint8) ``repeat`` times for the encoder."""
        if image.shape != (self.height, self.width, 3) or image.dtype != np.uint8:
            raise InputError(f"recording frames must be ({self.height}, {self.width}, 3) uint8, got {image.shape}")
        for _ in range(repeat):
            if not self.active:
                return
            self._queue.put(image)
            self._queued += 1

    def stop(self, timeout: float = 30.0) -> Path | None:
        """Finish encoding and finalize the file. Idempotent.

        Returns:
            The finished file, or None if no frame was written (then nothing is left on disk).
        """
        if not self._stopped:
            self._stopped = True
            self._queue.put(_STOP)
            self._thread.join(timeout)
        return self.path if self._writer.frames_written else None

    def abort(self, timeout: float = 30.0) -> None:
        """Stop and delete the output (a cancelled render). Idempotent."""
        self._aborted = True
        self.stop(timeout)

    def _fail(self, text: str) -> None:
        with self._lock:
            if self._error is None:
                self._error = text

    def _run(self) -> None:
        try:
            while (item := self._queue.get()) is not _STOP:
                if self.error is None and not self._aborted:
                    self._writer.write(item)
        except OSError as exc:
            self._fail(f"recording to {self.path} stopped: {exc.strerror or exc}")
        except Exception as exc:  # encoder errors: keep the viewer running, report the cause
            self._fail(f"recording to {self.path} stopped: {type(exc).__name__}: {exc}")
        finally:
            self._drain()
            self._finalize()

    def _drain(self) -> None:
        """Empty the queue so that a blocked :meth:`write` returns after an error."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def _finalize(self) -> None:
        if self._aborted:
            self._writer.abort()
            return
        try:
            self._writer.close()
        except Exception as exc:  # e.g. disk full while flushing: the partial file is left for inspection
            self._fail(f"could not finish {self.path}: {exc}")


class GifWriter:
    """An animated GIF (for short README clips), written when closed; same interface as ``VideoWriter``.

    Frames are kept in memory (GIFs are for short clips) and reduced to a 128-colour palette when
    the file is written, after the recording, to a hidden partial name renamed into place.
    """

    def __init__(self, path: Path, fps: float, width: int, height: int) -> None:
        if not 0 < fps <= 50:
            raise InputError(f"GIF frame rate must be within (0, 50], got {fps}")
        self.path, self.width, self.height = path, width, height
        self._duration_ms = round(1000.0 / fps)
        self._frames: list = []
        self.frames_written = 0

    def write(self, image: np.ndarray) -> None:
        self._frames.append(np.array(image, copy=True))
        self.frames_written += 1

    def close(self) -> Path:
        from PIL import Image

        if self._frames:
            tmp = self.path.with_name(f".{self.path.stem}.partial.gif")
            quantized = [Image.fromarray(f).quantize(colors=128, method=Image.Quantize.MEDIANCUT) for f in self._frames]
            first, *rest = quantized
            first.save(tmp, save_all=True, append_images=rest, duration=self._duration_ms, loop=0, optimize=True)
            tmp.replace(self.path)
            self._frames = []
        return self.path

    def abort(self) -> None:
        self._frames = []


__all__ = ["GifWriter", "VideoRecorder"]
