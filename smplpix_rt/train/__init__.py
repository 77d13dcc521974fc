"""Training side: datasets, the synthetic avatar, the training loop, evaluation, export and import.

Owns: the dataset layouts and their validation (``datasets``), the synthetic reference appearance
and dataset writer (``synth_render``, ``synth``; GLSL ``shaders/synth_*.glsl``), the training loop
with checkpoints, DistributedDataParallel and reports (``trainer``, ``checkpoint``, ``augment``,
``perceptual``, ``report``), quality metrics (``metrics``), evaluation (``evaluate``), run export
(``export``), SMPLpix checkpoint import (``import_smplpix``) and their subcommands (``cli``).

Does not own: the network architectures, ONNX export and quantization primitives
(``smplpix_rt.generator``), the runtimes (``smplpix_rt.runtime``), the body models
(``smplpix_rt.body``) or the G-buffer rasterizer (``smplpix_rt.raster``); it uses them as a client.
"""
