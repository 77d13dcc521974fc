"""Headless EGL on a chosen GPU: enumerate EGL devices and pick the one behind a CUDA device.

On a multi-GPU server the default EGL device need not be the GPU the generator runs on, and
CUDA–OpenGL interop only works when both are the same. ``EGL_EXT_device_enumeration`` lists the
devices (``eglQueryDevicesEXT``); on NVIDIA's driver ``EGL_NV_device_cuda`` tells which CUDA
device each one is (``eglQueryDeviceAttribEXT(dev, EGL_CUDA_DEVICE_NV)``). moderngl's EGL backend
(glcontext) takes the index into the same list as ``device_index``.

Enumeration runs anywhere libEGL does (with Mesa it lists the software device, without a CUDA
index). On a one-GPU NVIDIA machine (H200, driver 580.159) it found the one device with
``EGL_NV_device_cuda`` = 0 and the context was created on it; choosing among several GPUs has not
been run.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Sequence
from dataclasses import dataclass

from smplpix_rt.errors import GLUnavailableError

EGL_EXTENSIONS = 0x3055
EGL_CUDA_DEVICE_NV = 0x323A
EGL_DRM_DEVICE_FILE_EXT = 0x3233
_MAX_DEVICES = 32


@dataclass(frozen=True)
class EglDevice:
    """One EGL device.

    Attributes:
        index: position in ``eglQueryDevicesEXT``'s list (moderngl's ``device_index``).
        extensions: the device's extension string.
        cuda_device: CUDA device index (``EGL_CUDA_DEVICE_NV``), None where not an NVIDIA device.
        drm_file: DRM device node (``/dev/dri/cardN``), None where unknown (e.g. software).
    """

    index: int
    extensions: str
    cuda_device: int | None
    drm_file: str | None


def _load_egl() -> ctypes.CDLL:
    name = ctypes.util.find_library("EGL") or "libEGL.so.1"
    try:
        return ctypes.CDLL(name)
    except OSError as exc:
        raise GLUnavailableError(f"cannot load libEGL ({exc}); apt-get install libegl1") from None


def _proc(egl: ctypes.CDLL, name: str, restype: object, argtypes: list[object]) -> object:
    egl.eglGetProcAddress.restype = ctypes.c_void_p
    egl.eglGetProcAddress.argtypes = [ctypes.c_char_p]
    address = egl.eglGetProcAddress(name.encode())
    if not address:
        raise GLUnavailableError(f"this EGL has no {name} (EGL_EXT_device_enumeration / EGL_EXT_device_query missing)")
    return ctypes.CFUNCTYPE(restype, *argtypes)(address)


def list_egl_devices() -> list[EglDevice]:
    """Every EGL device, in the order moderngl's ``device_index`` counts them.

    Raises:
        GLUnavailableError: no libEGL or no device enumeration extension.
    """
    egl = _load_egl()
    voidp, eglint = ctypes.c_void_p, ctypes.c_int32
    query_devices = _proc(
        egl, "eglQueryDevicesEXT", ctypes.c_uint, [eglint, ctypes.POINTER(voidp), ctypes.POINTER(eglint)]
    )
    query_string = _proc(egl, "eglQueryDeviceStringEXT", ctypes.c_char_p, [voidp, eglint])
    query_attrib = _proc(
        egl, "eglQueryDeviceAttribEXT", ctypes.c_uint, [voidp, eglint, ctypes.POINTER(ctypes.c_ssize_t)]
    )
    devices = (voidp * _MAX_DEVICES)()
    count = eglint(0)
    if not query_devices(_MAX_DEVICES, devices, ctypes.byref(count)):
        raise GLUnavailableError("eglQueryDevicesEXT failed")
    found = []
    for index in range(count.value):
        device = devices[index]
        extensions = (query_string(device, EGL_EXTENSIONS) or b"").decode(errors="replace")
        cuda = None
        if "EGL_NV_device_cuda" in extensions:
            value = ctypes.c_ssize_t(-1)
            if query_attrib(device, EGL_CUDA_DEVICE_NV, ctypes.byref(value)):
                cuda = int(value.value)
        drm = None
        if "EGL_EXT_device_drm" in extensions:
            raw = query_string(device, EGL_DRM_DEVICE_FILE_EXT)
            drm = raw.decode(errors="replace") if raw else None
        found.append(EglDevice(index, extensions, cuda, drm))
    return found


def egl_index_for_cuda(devices: Sequence[EglDevice], cuda_device: int) -> int | None:
    """The ``device_index`` of the EGL device that is CUDA device ``cuda_device``, or None."""
    for device in devices:
        if device.cuda_device == cuda_device:
            return device.index
    return None


def create_context_on_cuda_device(cuda_device: int, require: int = 330):
    """A headless moderngl context on the EGL device that matches CUDA device ``cuda_device``.

    Args:
        cuda_device: CUDA device index the generator runs on.
        require: minimum OpenGL version (``major * 100 + minor * 10``).

    Raises:
        GLUnavailableError: no EGL device is that CUDA device (non-NVIDIA driver, or the index is
            out of range), or the context cannot be created.
    """
    import moderngl

    devices = list_egl_devices()
    index = egl_index_for_cuda(devices, cuda_device)
    if index is None:
        listed = ", ".join(f"#{d.index}: cuda {d.cuda_device}" for d in devices) or "none"
        raise GLUnavailableError(
            f"no EGL device is CUDA device {cuda_device} (EGL devices: {listed}); needs NVIDIA's EGL driver "
            "(libnvidia-egl) and a visible GPU, or render with the default context"
        )
    try:
        return moderngl.create_standalone_context(require=require, backend="egl", device_index=index)
    except Exception as exc:  # glcontext raises plain Exceptions with driver text
        raise GLUnavailableError(
            f"cannot create an EGL context on EGL device {index} (cuda:{cuda_device}): {exc}"
        ) from exc
