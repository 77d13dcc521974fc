"""Export a training run: ONNX (manifest in the metadata), int8 QDQ, TensorRT engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from smplpix_rt.errors import InputError


@dataclass(frozen=True)
class QuantizationReport:
    """fp32 vs int8 on real frames (validation split of the calibration dataset).

    Attributes:
        frames: frames compared.
        psnr_fp32, psnr_int8: mean PSNR (dB) of each model against the targets.
        ssim_fp32, ssim_int8: mean SSIM of each model.
        ms_fp32, ms_int8: median ONNX Runtime time per frame.
    """

    frames: int
    psnr_fp32: float
    psnr_int8: float
    ssim_fp32: float
    ssim_int8: float
    ms_fp32: float
    ms_int8: float

    @property
    def psnr_change(self) -> float:
        return self.psnr_int8 - self.psnr_fp32


@dataclass(frozen=True)
class ExportResult:
    """Files an export wrote.

    Attributes:
        checkpoint: the checkpoint exported.
        onnx: the fp32 ONNX file.
        int8: the int8 ONNX file, or None.
        quantization: fp32 vs int8 comparison, or None.
        engine: the TensorRT engine, or None.
    """

    checkpoint: Path
    onnx: Path
    int8: Path | None = None
    quantization: QuantizationReport | None = None
    engine: Path | None = None


def int8_path(onnx_path: Path) -> Path:
    """``model.onnx`` → ``model.int8.onnx``."""
    onnx_path = Path(onnx_path)
    return onnx_path.with_name(f"{onnx_path.stem}.int8.onnx")


def _check_request(run: Path, onnx: Path, int8: bool, calib: Path | None, engine: Path | None):
    """Validate everything before writing anything; returns the checkpoint and its manifest."""
    from smplpix_rt.generator.manifest import read_manifest
    from smplpix_rt.train.checkpoint import export_checkpoint
    from smplpix_rt.train.evaluate import check_dataset_for

    if Path(onnx).suffix.lower() != ".onnx":
        raise InputError(f"--onnx must name a .onnx file, got {onnx}")
    checkpoint = export_checkpoint(run)
    manifest = read_manifest(checkpoint)
    if int8 and calib is None:
        raise InputError("--int8 needs --calib DIR: a dataset whose frames calibrate the activation ranges")
    if calib is not None:
        check_dataset_for(manifest, calib)
    if engine is not None:
        from smplpix_rt.runtime.trt_backend import _require_cuda, import_tensorrt

        import_tensorrt()  # raises BackendUnavailableError with install advice
        _require_cuda()
    return checkpoint, manifest


def compare_int8(fp32: Path, int8: Path, calib: Path, frames: int, progress: bool) -> QuantizationReport:
    """PSNR / SSIM / speed of the fp32 and int8 models on ``calib``'s validation split."""
    import numpy as np

    from smplpix_rt.generator.manifest import read_manifest
    from smplpix_rt.runtime.loader import load_runtime
    from smplpix_rt.train.datasets import load_split
    from smplpix_rt.train.evaluate import score_runtime

    encoding = read_manifest(fp32).encoding
    tensors = load_split(calib, "validation", encoding, limit=frames, progress=progress)
    results = []
    for path in (fp32, int8):
        with load_runtime(path, backend="onnxruntime") as runtime:
            scores, ms = score_runtime(runtime, tensors, progress)
        results.append((float(np.mean([s.psnr for s in scores])), float(np.mean([s.ssim for s in scores])), ms))
    (p32, s32, t32), (p8, s8, t8) = results
    return QuantizationReport(len(tensors), p32, p8, s32, s8, t32, t8)


def export_run(
    run: Path,
    onnx: Path,
    *,
    int8: bool = False,
    calib: Path | None = None,
    calib_frames: int = 32,
    compare_frames: int = 64,
    engine: Path | None = None,
    fp16: bool = False,
    progress: bool = True,
) -> ExportResult:
    """Export the best checkpoint of a run.

    Args:
        run: training run folder.
        onnx: target fp32 ONNX file (opset 17, manifest in the metadata).
        int8: also write ``<onnx stem>.int8.onnx``, statically quantized (QDQ, u8 activations,
            s8 per-channel weights) and calibrated on ``calib``'s training frames.
        calib: dataset folder for calibration and the fp32 / int8 comparison.
        calib_frames: calibration frames.
        compare_frames: validation frames for the fp32 / int8 comparison.
        engine: also build a TensorRT engine here (needs TensorRT and a CUDA GPU).
        fp16: build the engine strongly typed from an fp16 ONNX export (``<engine stem>.fp16.onnx``).
        progress: show progress.

    Raises:
        InputError: a run without checkpoints, bad paths or options, an incompatible dataset.
        BackendUnavailableError: ``engine`` requested without TensorRT / CUDA.
    """
    from smplpix_rt.generator.export import export_onnx, load_graph, quantize_int8

    checkpoint, manifest = _check_request(run, onnx, int8, calib, engine)
    graph = load_graph(checkpoint)
    export_onnx(graph, graph.manifest, onnx, opset=17)
    result = ExportResult(checkpoint, Path(onnx))
    if int8:
        from smplpix_rt.train.datasets import load_split

        tensors = load_split(calib, "train", manifest.encoding, limit=calib_frames, progress=progress)
        target = int8_path(onnx)
        quantize_int8(onnx, target, [tensors.planes_of(i) for i in range(len(tensors))])
        report = compare_int8(Path(onnx), target, calib, compare_frames, progress)
        result = ExportResult(checkpoint, Path(onnx), target, report)
    if engine is not None:
        from smplpix_rt.runtime.trt_backend import build_engine

        engine = Path(engine)
        source = Path(onnx)
        if fp16:  # strongly typed: the precision comes from the ONNX file itself
            source = engine.with_name(f"{engine.stem}.fp16.onnx")
            export_onnx(graph, graph.manifest, source, opset=17, fp16=True)
        build_engine(source, engine, fp16=fp16, timing_cache=engine.with_name("timing.cache"))
        result = ExportResult(result.checkpoint, result.onnx, result.int8, result.quantization, engine)
    return result


__all__ = ["ExportResult", "QuantizationReport", "export_run", "compare_int8", "int8_path"]
