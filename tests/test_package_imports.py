"""The library stays light: importing it loads no GUI, TensorRT, ONNX Runtime or CUDA module."""

import subprocess
import sys

FORBIDDEN = ["glfw", "imgui_bundle", "tensorrt", "onnxruntime", "cuda", "anny", "smplx"]


def test_import_loads_no_optional_stack():
    code = (
        "import sys, smplpix_rt, smplpix_rt.pipeline, smplpix_rt.runtime, smplpix_rt.raster, smplpix_rt.body;"
        f"print([m for m in {FORBIDDEN!r} if m in sys.modules or any(k.startswith(m + '.') for k in sys.modules)])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
