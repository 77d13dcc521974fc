"""Exceptions a user can act on.

Every error that reaches the command line derives from :class:`SmplpixError`; the CLI prints its
message as one line on stderr and exits non-zero. Library code raises the most specific subclass
and words the message as: what was wrong, where, and what to do about it.
"""

from __future__ import annotations


class SmplpixError(Exception):
    """Base class of all errors this project raises on purpose."""


class InputError(SmplpixError, ValueError):
    """A parameter, file or argument given by the user is invalid."""


class ModelFileError(InputError):
    """A model file (generator, body model, manifest) is missing, corrupt or incompatible."""


class BackendUnavailableError(SmplpixError, RuntimeError):
    """A requested backend (TensorRT, ONNX Runtime, CUDA, OpenGL) cannot be used on this machine."""


class GLUnavailableError(BackendUnavailableError):
    """No usable OpenGL context could be created."""
