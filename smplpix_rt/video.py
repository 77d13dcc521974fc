"""Writing frames to disk: MP4 through PyAV, or a folder of numbered PNGs.

Writers never leave a half-written file under the user's name: frames go to a temporary file next
to the target, which is renamed into place by :meth:`close`. An MP4 closed early (Ctrl-C, an
error, a signal handler) is still finalized and playable with every frame written so far.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from smplpix_rt.errors import InputError

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov")


class VideoWriter:
    """Encode RGB frames to an H.264 MP4 at a constant frame rate.

    Args:
        path: output file (``.mp4``, ``.mkv`` or ``.mov``).
        fps: frames per second (a constant frame rate; frame ``i`` has time ``i / fps``).
        width, height: frame size in pixels; odd sizes are padded by one pixel (H.264 needs even sizes).
        crf: constant rate factor (0 lossless … 51 worst; 18–23 is visually good).
        preset: x264 speed preset (``ultrafast`` … ``veryslow``).
    """

    def __init__(
        self, path: str | os.PathLike, fps: float, width: int, height: int, crf: int = 20, preset: str = "veryfast"
    ) -> None:
        import av  # deferred: only writers need PyAV

        self.path = Path(path)
        if self.path.suffix.lower() not in VIDEO_SUFFIXES:
            raise InputError(f"video output {self.path} must end in one of {', '.join(VIDEO_SUFFIXES)}")
        if not self.path.parent.is_dir():
            raise InputError(f"output folder {self.path.parent} does not exist")
        if not (0 < fps <= 240) or width < 2 or height < 2:
            raise InputError(f"invalid video settings: fps={fps}, size={width}x{height}")
        self.width, self.height = width, height
        self._tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        try:
            self._container = av.open(str(self._tmp), mode="w")
        except OSError as e:
            raise InputError(f"cannot write {self.path}: {e.strerror or e}") from None
        self._stream = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        self._stream.width, self._stream.height = width + width % 2, height + height % 2
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(crf), "preset": preset}
        self.frames_written = 0
        self._closed = False

    def write(self, image: np.ndarray) -> None:
        """Append one frame: (height, width, 3) uint8 RGB, row 0 at the top."""
        import av

        if image.shape != (self.height, self.width, 3) or image.dtype != np.uint8:
            raise InputError(
                f"video frame must be ({self.height}, {self.width}, 3) uint8, got {image.shape} {image.dtype}"
            )
        if self.width % 2 or self.height % 2:
            image = np.pad(image, ((0, self.height % 2), (0, self.width % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts = self.frames_written
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> Path:
        """Flush the encoder and move the file into place. Idempotent; returns the output path."""
        if self._closed:
            return self.path
        self._closed = True
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
        finally:
            self._container.close()
        if self.frames_written:
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)
        return self.path

    def abort(self) -> None:
        """Stop and delete the partial output (used when a render fails before any useful frame)."""
        if not self._closed:
            self._closed = True
            try:
                self._container.close()
            finally:
                self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()


class PngFolderWriter:
    """Write frames as ``00000.png``, ``00001.png``, ... into a folder (created if missing).

    Each PNG is written to a temporary name and renamed, so a folder never holds a truncated frame.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.path = Path(folder)
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"{self.path} exists and is not a folder")
        self.path.mkdir(parents=True, exist_ok=True)
        self.frames_written = 0

    def write(self, image: np.ndarray) -> None:
        from PIL import Image

        target = self.path / f"{self.frames_written:05d}.png"
        tmp = target.with_name(f".{target.name}.partial")
        Image.fromarray(image).save(tmp, format="PNG")
        os.replace(tmp, target)
        self.frames_written += 1

    def close(self) -> Path:
        return self.path

    def abort(self) -> None:
        pass

    def __enter__(self) -> PngFolderWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_writer(
    out: str | os.PathLike, fps: float, width: int, height: int, **video_options
) -> VideoWriter | PngFolderWriter:
    """A video writer for a video file name, a PNG-folder writer otherwise."""
    out = Path(out)
    if out.suffix.lower() in VIDEO_SUFFIXES:
        return VideoWriter(out, fps, width, height, **video_options)
    if out.suffix:
        raise InputError(f"--out {out}: use a video file ({', '.join(VIDEO_SUFFIXES)}) or a folder for PNG frames")
    return PngFolderWriter(out)


def count_video_frames(path: str | os.PathLike) -> tuple[int, int, int]:
    """(frames, width, height) of a video file, by decoding it (used by tests and checks)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        n = sum(1 for _ in container.decode(stream))
        return n, stream.codec_context.width, stream.codec_context.height
