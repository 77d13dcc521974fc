"""smplpix-rt: real-time neural avatars.

A parametric body (``smplpix_rt.body``) is rasterized into a G-buffer (``smplpix_rt.raster``) and
turned into an image by a generator (``smplpix_rt.generator`` networks, run by
``smplpix_rt.runtime`` backends); ``smplpix_rt.pipeline`` ties the stages together.

Importing this package loads no window toolkit, GUI, TensorRT, ONNX Runtime or CUDA module; each
backend imports its own dependencies when it is created.
"""

__version__ = "0.1.0"
