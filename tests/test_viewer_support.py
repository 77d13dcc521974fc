"""How the viewer tests reach the viewer package, and checks of its import boundaries.

The viewer ships as ``smplpix_viewer`` (pyproject maps ``app/`` to that name in the wheel). In a
source checkout that is not installed, the tests load ``app/`` under the same name.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "smplpix_viewer"

#: Python code that makes ``smplpix_viewer`` importable from the source tree when it is not installed.
BOOTSTRAP = (
    "import importlib.util, sys\n"
    f"if importlib.util.find_spec({PACKAGE!r}) is None:\n"
    f"    spec = importlib.util.spec_from_file_location({PACKAGE!r}, {str(ROOT / 'app' / '__init__.py')!r},\n"
    f"        submodule_search_locations=[{str(ROOT / 'app')!r}])\n"
    "    module = importlib.util.module_from_spec(spec)\n"
    f"    sys.modules[{PACKAGE!r}] = module\n"
    "    spec.loader.exec_module(module)\n"
)


def viewer_module(name: str):
    """Import ``smplpix_viewer.<name>`` (installed, or from the source tree)."""
    if PACKAGE not in sys.modules:
        exec(BOOTSTRAP, {})
    return importlib.import_module(f"{PACKAGE}.{name}")


def viewer_command(*args: str) -> list[str]:
    """The command line that runs ``smplpix-viewer`` with ``args`` in a fresh interpreter."""
    code = BOOTSTRAP + f"from {PACKAGE}.main import main\nsys.exit(main(sys.argv[1:]))\n"
    return [sys.executable, "-c", code, *args]


def make_tiny_model(path: Path, size: int = 128) -> Path:
    """A small random-weight pixnet generator for the Anny body, exported to ONNX at ``path``."""
    import torch

    from smplpix_rt.body import load_body_model
    from smplpix_rt.generator.export import export_onnx
    from smplpix_rt.generator.manifest import Architecture, Manifest, default_inputs
    from smplpix_rt.generator.networks import GeneratorGraph, build_network

    spec = load_body_model("anny").spec
    torch.manual_seed(0)
    params = {"in_channels": 8, "base_filters": 8, "depth": 4, "max_filters": 32}
    net = build_network("pixnet", **params).eval()
    manifest = Manifest(
        body_model=spec.name,
        body_model_version=spec.version,
        encoding="neural",
        inputs=default_inputs("neural"),
        architecture=Architecture("pixnet", params),
        resolution=(size, size),
        size_multiple=net.size_multiple,
    )
    return export_onnx(GeneratorGraph(net, manifest).eval(), manifest, path)


def test_viewer_modules_import_under_the_installed_name():
    main = viewer_module("main")
    assert main.build_parser().prog == "smplpix-viewer"


@pytest.mark.parametrize("display", [None, ":987"], ids=["unset", "unreachable"])
def test_no_display_is_one_line_and_exit_code_2(display):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    if display is not None:
        if Path(f"/tmp/.X11-unix/X{display[1:]}").exists():
            pytest.skip(f"display {display} exists on this machine")
        env["DISPLAY"] = display
    out = subprocess.run(viewer_command(), capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "smplpix-viewer: no display found; use `smplpix render` for headless rendering"
    ]
