"""Where the shipped data lives: GLSL sources and the default models.

In an installed wheel ``shaders/`` and ``models/`` sit inside the package; in a source checkout
they are the repository's top-level folders. Both are found the same way.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"smplpix-rt data folder {name!r} not found next to {_PACKAGE}; reinstall the package")


def shader_dir() -> Path:
    """Folder with the GLSL programs."""
    return _data_dir("shaders")


def models_dir() -> Path:
    """Folder with the shipped body data and default avatar."""
    return _data_dir("models")


def read_shader(name: str) -> str:
    """Source of ``shaders/<name>``."""
    return (shader_dir() / name).read_text(encoding="utf-8")
