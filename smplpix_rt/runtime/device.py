"""The device frame path: G-buffer textures → generator → display texture, all on the GPU.

What has run on a GPU (an NVIDIA H200, torch 2.11 + CUDA 13): :class:`DeviceFrameLoop` with the
torch generator (``__cuda_array_interface__``, ``torch.cuda.ExternalStream``), whose images equal
the host path's, and the path decision. Written against the documented APIs but not run on a GPU:
the ONNX Runtime generator (IO binding with CUDA pointers; needs onnxruntime-gpu) and the
TensorRT 10 generator (``set_tensor_address``, ``execute_async_v3``). What runs and is tested
everywhere is the decision logic: :func:`decide_frame_path` (pure) and :func:`select_frame_path`,
which falls back to the host path with one logged reason.

Per frame (:meth:`DeviceFrameLoop.run`), on one CUDA stream: draw the G-buffer (GL) → map the
textures → one 2D copy per RGBA16F target into a (H, W, 4) float16 buffer → cast to the float32
input the generator's I/O contract fixes → ``infer_device`` → pad the (1, H, W, 3) float32 output
to (H, W, 4) float16 with alpha 1 → one 2D copy into the display texture → unmap. The cast and the
pad are single elementwise torch kernels; every ONNX file and engine keeps float32 I/O, so the
CPU path and the files are unchanged. torch with CUDA is required for the buffers of this path.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from smplpix_rt.errors import BackendUnavailableError, InputError, SmplpixError
from smplpix_rt.generator.manifest import PLANE_CHANNELS, Manifest

log = logging.getLogger("smplpix_rt.device")

FRAME_PATH_INTEROP = "interop"
FRAME_PATH_HOST = "host"
_SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swrast", "lavapipe", "software rasterizer")
_DEVICE_BACKENDS = ("torch", "onnxruntime", "tensorrt")


# -- deciding the path ------------------------------------------------------------------------------


@dataclass(frozen=True)
class InteropFacts:
    """What decides between the interop and the host frame path.

    Attributes:
        gl_renderer: ``GL_RENDERER`` of the context the G-buffer is drawn in.
        gl_vendor: ``GL_VENDOR`` of that context.
        wsl: running under Windows Subsystem for Linux (no CUDA–GL interop there).
        cuda_devices: number of usable CUDA devices (0 when none).
        cuda_reason: why there is none (``""`` when ``cuda_devices > 0``).
        runtime_backend: the generator's backend (``RuntimeInfo.backend``).
        runtime_device: the generator's device, ``"cpu"`` or ``"cuda:N"``.
        gl_cuda_devices: CUDA devices behind the GL context; None when unknown (not queried).
        torch_cuda: PyTorch with CUDA is importable (it holds the interop path's device buffers).
    """

    gl_renderer: str
    gl_vendor: str
    wsl: bool
    cuda_devices: int
    cuda_reason: str
    runtime_backend: str
    runtime_device: str
    gl_cuda_devices: tuple[int, ...] | None = None
    torch_cuda: bool = True


def is_wsl(proc_version: str) -> bool:
    """True for the text of ``/proc/version`` on WSL 1 or 2 (a Microsoft kernel)."""
    text = proc_version.lower()
    return "microsoft" in text or "wsl" in text


def decide_frame_path(facts: InteropFacts) -> tuple[str, str]:
    """Interop or host copies, and the one-line reason, from facts alone (no side effects).

    Returns:
        ``(FRAME_PATH_INTEROP | FRAME_PATH_HOST, reason)``.
    """
    renderer = facts.gl_renderer.lower()
    if facts.wsl:
        return FRAME_PATH_HOST, "WSL has no CUDA–OpenGL interop"
    if facts.cuda_devices <= 0:
        return FRAME_PATH_HOST, f"no CUDA device ({facts.cuda_reason or 'none found'})"
    if any(name in renderer for name in _SOFTWARE_RENDERERS):
        return FRAME_PATH_HOST, f"OpenGL runs on a software renderer ({facts.gl_renderer})"
    if "nvidia" not in renderer and "nvidia" not in facts.gl_vendor.lower():
        return FRAME_PATH_HOST, f"OpenGL is not on the NVIDIA driver ({facts.gl_vendor}: {facts.gl_renderer})"
    if facts.runtime_backend not in _DEVICE_BACKENDS or not facts.runtime_device.startswith("cuda"):
        return FRAME_PATH_HOST, f"the generator runs on {facts.runtime_backend}/{facts.runtime_device}, not on CUDA"
    if not facts.torch_cuda:
        return FRAME_PATH_HOST, "the interop buffers need PyTorch with CUDA, which is not installed"
    index = int(facts.runtime_device.split(":", 1)[1]) if ":" in facts.runtime_device else 0
    if facts.gl_cuda_devices is not None and index not in facts.gl_cuda_devices:
        shown = ", ".join(f"cuda:{d}" for d in facts.gl_cuda_devices) or "no CUDA device"
        return FRAME_PATH_HOST, f"OpenGL renders on {shown} but the generator runs on cuda:{index}"
    return FRAME_PATH_INTEROP, f"OpenGL and the {facts.runtime_backend} generator share cuda:{index}"


def _read_proc_version() -> str:
    try:
        return Path("/proc/version").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def gather_facts(ctx: Any, runtime: Any) -> InteropFacts:
    """Collect :class:`InteropFacts` for a moderngl context (current) and a loaded runtime."""
    from smplpix_rt.runtime.interop import cuda_device_count, gl_cuda_devices

    info = runtime.describe()
    count, reason = cuda_device_count()
    renderer = str(ctx.info.get("GL_RENDERER", ""))
    gl_devices = None
    if count > 0 and "nvidia" in renderer.lower():
        try:
            gl_devices = gl_cuda_devices()
        except BackendUnavailableError:
            gl_devices = None
    return InteropFacts(
        gl_renderer=renderer,
        gl_vendor=str(ctx.info.get("GL_VENDOR", "")),
        wsl=is_wsl(_read_proc_version()),
        cuda_devices=count,
        cuda_reason=reason,
        runtime_backend=info.backend,
        runtime_device=info.device,
        gl_cuda_devices=gl_devices,
        torch_cuda=count > 0 and _torch_sees_cuda(),
    )


def _torch_sees_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def context_frame_path(ctx: Any) -> tuple[str, str]:
    """The path a CUDA generator on device 0 would take with this context (for ``smplpix info``).

    Unlike :func:`select_frame_path` it needs no loaded runtime: it answers "could this machine
    keep frames on the GPU", which is what a user checking an installation wants to know.
    """

    class _CudaGenerator:
        @staticmethod
        def describe() -> Any:
            return type("Info", (), {"backend": "tensorrt", "device": "cuda:0"})()

    path, reason = decide_frame_path(gather_facts(ctx, _CudaGenerator()))
    if path == FRAME_PATH_INTEROP:
        reason = "OpenGL runs on CUDA device 0: a generator on that GPU keeps its frames there"
    return path, reason


def select_frame_path(ctx: Any, runtime: Any) -> tuple[str, str]:
    """Decide interop vs host copies for this context and runtime; logs the decision once.

    Returns:
        ``(FRAME_PATH_INTEROP | FRAME_PATH_HOST, reason)`` — for ``smplpix info`` and the viewer.
    """
    path, reason = decide_frame_path(gather_facts(ctx, runtime))
    log.info("frame path: %s (%s)", path, reason)
    return path, reason


# -- generators on device pointers ------------------------------------------------------------------


class DeviceGenerator(Protocol):
    """A generator that reads and writes device memory.

    ``infer_device`` reads one (1, H, W, 4) float32 buffer per manifest input and writes the
    (1, H, W, 3) float32 output, all C-contiguous on the generator's CUDA device, enqueued on
    ``stream`` (a ``cudaStream_t`` as int). It returns without waiting for the GPU.
    """

    manifest: Manifest

    def infer_device(self, input_ptrs: Sequence[int], output_ptr: int, stream: int, size: tuple[int, int]) -> None: ...

    def release(self) -> None: ...


class _DeviceArray:
    """Exposes a raw device pointer to torch through ``__cuda_array_interface__`` (v3)."""

    def __init__(self, ptr: int, shape: tuple[int, ...], typestr: str = "<f4") -> None:
        self.__cuda_array_interface__ = {
            "shape": shape,
            "typestr": typestr,
            "data": (int(ptr), False),
            "strides": None,
            "version": 3,
            "stream": None,  # the caller orders the work on its own stream
        }


def as_device_tensor(ptr: int, shape: tuple[int, ...], device: Any) -> Any:
    """A float32 torch tensor viewing device memory at ``ptr`` (no copy)."""
    import torch

    return torch.as_tensor(_DeviceArray(ptr, shape), device=device)


def _check_ptrs(manifest: Manifest, input_ptrs: Sequence[int], size: tuple[int, int]) -> None:
    if len(input_ptrs) != len(manifest.inputs):
        raise InputError(f"this generator takes {len(manifest.inputs)} input buffer(s), got {len(input_ptrs)}")
    m = manifest.size_multiple
    if size[0] <= 0 or size[1] <= 0 or size[0] % m or size[1] % m:
        raise InputError(f"frame size {size[1]}x{size[0]} must be a non-zero multiple of {m} for this generator")


class TorchDeviceGenerator:
    """A CUDA :class:`~smplpix_rt.runtime.torch_backend.TorchRuntime` run on device pointers."""

    def __init__(self, runtime: Any) -> None:
        import torch

        self._torch, self._runtime, self.manifest = torch, runtime, runtime.manifest
        self._device = torch.device(runtime.describe().device)

    def infer_device(self, input_ptrs: Sequence[int], output_ptr: int, stream: int, size: tuple[int, int]) -> None:
        _check_ptrs(self.manifest, input_ptrs, size)
        torch, (height, width) = self._torch, size
        with torch.cuda.stream(torch.cuda.ExternalStream(stream, device=self._device)), torch.inference_mode():
            planes = [as_device_tensor(p, (1, height, width, PLANE_CHANNELS), self._device) for p in input_ptrs]
            out = as_device_tensor(output_ptr, (1, height, width, 3), self._device)
            out.copy_(self._runtime.forward(*planes))

    def release(self) -> None:
        self._runtime = None  # the caller keeps the runtime's ownership


class OrtDeviceGenerator:
    """A CUDA :class:`~smplpix_rt.runtime.ort_backend.OrtRuntime` run through IO binding.

    ONNX Runtime's CUDA provider runs on its own stream: the caller's stream is synchronized
    before the run, and the outputs are synchronized after it (one host wait per frame).
    """

    def __init__(self, runtime: Any) -> None:
        import numpy as np

        self._np, self.manifest = np, runtime.manifest
        self._session = runtime._session  # the runtime stays the owner
        self._device_id = int(runtime.describe().device.split(":", 1)[1])

    def infer_device(self, input_ptrs: Sequence[int], output_ptr: int, stream: int, size: tuple[int, int]) -> None:
        from smplpix_rt.runtime.interop import checked, import_cudart

        _check_ptrs(self.manifest, input_ptrs, size)
        height, width = size
        binding = self._session.io_binding()
        for name, ptr in zip(self.manifest.input_names, input_ptrs, strict=True):
            binding.bind_input(name, "cuda", self._device_id, self._np.float32, [1, height, width, PLANE_CHANNELS], ptr)
        binding.bind_output(
            self.manifest.output, "cuda", self._device_id, self._np.float32, [1, height, width, 3], output_ptr
        )
        checked(import_cudart().cudaStreamSynchronize(stream), "cudaStreamSynchronize")
        self._session.run_with_iobinding(binding)
        binding.synchronize_outputs()

    def release(self) -> None:
        self._session = None


class TensorRTDeviceGenerator:
    """A :class:`~smplpix_rt.runtime.trt_backend.TensorRTRuntime` bound to device pointers.

    Args:
        runtime: the loaded engine (stays the owner of engine and execution context).
        cuda_graph: capture the run as a CUDA graph and replay it while shapes and addresses
            stay the same (NVIDIA's TensorRT demo pattern); recaptured when they change.
    """

    def __init__(self, runtime: Any, cuda_graph: bool = False) -> None:
        import torch

        self.manifest, self._runtime, self._use_graph = runtime.manifest, runtime, cuda_graph
        names = (*self.manifest.input_names, self.manifest.output)
        wrong = {n: d for n, d in runtime._dtypes.items() if n in names and d != torch.float32}
        if wrong:
            raise BackendUnavailableError(
                f"the device path needs float32 engine I/O, {runtime.describe().model_path} has {wrong}; "
                "rebuild the engine from an ONNX file exported by smplpix-rt"
            )
        self._graph: Any = None
        self._bound: tuple[Any, ...] | None = None

    def infer_device(self, input_ptrs: Sequence[int], output_ptr: int, stream: int, size: tuple[int, int]) -> None:
        _check_ptrs(self.manifest, input_ptrs, size)
        context = self._runtime._context
        binding = (tuple(input_ptrs), output_ptr, tuple(size), stream)
        if self._graph is not None and binding == self._bound:
            self._graph.launch(stream)
            return
        height, width = size
        for name, ptr in zip(self.manifest.input_names, input_ptrs, strict=True):
            context.set_input_shape(name, (1, height, width, PLANE_CHANNELS))
            context.set_tensor_address(name, int(ptr))
        context.set_tensor_address(self.manifest.output, int(output_ptr))
        self._runtime.rebind_before_next_run()  # the shared context now points at the caller's buffers

        def enqueue() -> None:
            if not context.execute_async_v3(stream):
                raise SmplpixError("TensorRT failed to run the engine (see the TensorRT log)")

        enqueue()
        if self._use_graph:
            from smplpix_rt.runtime.interop import CudaGraph

            self._release_graph()
            self._graph = CudaGraph(stream, enqueue)  # a failed enqueue aborts the capture
            self._bound = binding

    def _release_graph(self) -> None:
        if self._graph is not None:
            self._graph.release()
        self._graph, self._bound = None, None

    def release(self) -> None:
        self._release_graph()


def device_generator_for(runtime: Any, cuda_graph: bool = False) -> DeviceGenerator:
    """Wrap a loaded CUDA runtime so it runs on device pointers.

    Raises:
        BackendUnavailableError: the runtime runs on the CPU or is of an unknown kind.
    """
    info = runtime.describe()
    if not info.device.startswith("cuda"):
        raise BackendUnavailableError(f"the device path needs a CUDA runtime, {info.backend} runs on {info.device}")
    if info.backend == "torch":
        return TorchDeviceGenerator(runtime)
    if info.backend == "onnxruntime":
        return OrtDeviceGenerator(runtime)
    if info.backend == "tensorrt":
        return TensorRTDeviceGenerator(runtime, cuda_graph=cuda_graph)
    raise BackendUnavailableError(f"no device path for the {info.backend!r} backend")


# -- the frame loop ---------------------------------------------------------------------------------


class DeviceFrameLoop:
    """Owns the CUDA–GL registrations, the device buffers and the display texture of the interop path.

    Args:
        renderer: the :class:`~smplpix_rt.raster.renderer.GBufferRenderer` whose targets are read.
        generator: a :class:`DeviceGenerator` on the CUDA device behind the renderer's context;
            the loop takes it over and releases it (the runtime behind it keeps its own owner).

    The GL context must be current on the calling thread for every method. Create it only when
    :func:`select_frame_path` chose ``"interop"``.
    """

    def __init__(self, renderer: Any, generator: DeviceGenerator) -> None:
        import torch

        self._torch, self._renderer, self._generator = torch, renderer, generator
        self._device = torch.device("cuda", torch.cuda.current_device())
        self._stream = torch.cuda.Stream(device=self._device)
        self._registered: Any = None
        self._texture: Any = None
        self._key: tuple[Any, ...] | None = None
        self._buffers: dict[str, Any] = {}

    @property
    def texture(self) -> Any:
        """The RGBA16F display texture holding the last generated image (row 0 = top), alpha 1."""
        return self._texture

    def _prepare(self) -> None:
        """(Re)register and (re)allocate when the renderer's targets changed (resize, new encoding)."""
        textures = self._renderer.textures
        key = tuple(t.glo for t in textures) + (self._renderer.width, self._renderer.height)
        if key == self._key:
            return
        self._release_registrations()
        from smplpix_rt.runtime.interop import RegisteredTextures

        torch, (width, height) = self._torch, (self._renderer.width, self._renderer.height)
        self._texture = self._renderer.ctx.texture((width, height), 4, dtype="f2")
        half = {"dtype": torch.float16, "device": self._device}
        single = {"dtype": torch.float32, "device": self._device}
        # Allocated (and the alpha fill enqueued) on the loop's stream: torch streams do not
        # synchronize with the default stream, and the caching allocator reuses a freed block only
        # on the stream it was allocated on, so every use of these buffers stays stream-ordered.
        with torch.cuda.stream(self._stream):
            self._buffers = {
                "staging_in": [torch.empty((height, width, 4), **half) for _ in textures],
                "inputs": [torch.empty((1, height, width, 4), **single) for _ in textures],
                "output": torch.empty((1, height, width, 3), **single),
                "staging_out": torch.ones((height, width, 4), **half),
            }
        self._registered = RegisteredTextures((*textures, self._texture), (False,) * len(textures) + (True,))
        self._key = key

    def run(self, mesh: Any, camera: Any) -> Any:
        """Draw ``mesh`` and generate the image into :attr:`texture`; returns the texture.

        GL commands issued afterwards (e.g. drawing the texture) wait for the CUDA work.
        """
        self._renderer.draw(mesh, camera)
        return self.generate()

    def generate(self) -> Any:
        """Generate the image of the G-buffer drawn last into :attr:`texture`; returns the texture."""
        self._prepare()
        width, height = self._renderer.width, self._renderer.height
        stream, b, reg = self._stream.cuda_stream, self._buffers, self._registered
        arrays = reg.map(stream)
        try:
            for array, staging in zip(arrays[:-1], b["staging_in"], strict=True):
                reg.copy_from_array(array, staging.data_ptr(), width, height, stream)
            with self._torch.cuda.stream(self._stream):
                for staging, plane in zip(b["staging_in"], b["inputs"], strict=True):
                    plane[0].copy_(staging)
            ptrs = [plane.data_ptr() for plane in b["inputs"]]
            self._generator.infer_device(ptrs, b["output"].data_ptr(), stream, (height, width))
            with self._torch.cuda.stream(self._stream):
                b["staging_out"][:, :, :3].copy_(b["output"][0])
            reg.copy_to_array(b["staging_out"].data_ptr(), arrays[-1], width, height, stream)
        finally:
            reg.unmap()
        return self._texture

    def read_image(self) -> Any:
        """The last generated image as a new (H, W, 3) uint8 numpy array (waits for the GPU).

        The conversion runs on the device; only the uint8 image crosses to the host, through a
        pinned buffer, so this is the single host copy per frame of an offline render.
        """
        torch, b = self._torch, self._buffers
        if not b:
            raise SmplpixError("read_image before any frame was generated")
        with torch.cuda.stream(self._stream):
            image = (b["output"][0] * 255.0 + 0.5).clamp_(0.0, 255.0).to(torch.uint8)
            if "host" not in b or b["host"].shape != image.shape:
                b["host"] = torch.empty(image.shape, dtype=torch.uint8, pin_memory=True)
            b["host"].copy_(image, non_blocking=True)
        self._stream.synchronize()
        return b["host"].numpy().copy()

    def _release_registrations(self) -> None:
        if self._registered is not None:
            self._registered.release()
        if self._texture is not None:
            self._texture.release()
        self._registered, self._texture, self._key, self._buffers = None, None, None, {}

    def release(self) -> None:
        """Unregister, free the display texture and the device buffers. Idempotent."""
        self._release_registrations()
        self._generator.release()
