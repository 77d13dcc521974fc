"""Generator networks (PyTorch) and the graph wrapper that gives them the runtime I/O contract.

Two architectures:

* ``"pixnet"`` (default): a light pix2pix-style encoder-decoder built for interactive CPU
  inference (≈2.8 GFLOPs at 256²). 4×4 stride-2 convolutions down; the up path runs 3×3
  convolutions at the coarse resolution followed by bilinear ×2 instead of transposed
  convolutions (ONNX Runtime quantizes them to int8, and they leave no checkerboard); a sub-pixel
  head plus a full-resolution 3×3 convolution on the input. BatchNorm (folds into the
  convolutions at inference) and (Leaky)ReLU only; sigmoid output. Against the same network with
  4×4 transposed convolutions up (4.0 GFLOPs), measured at 256² on a 2-core AMX CPU (best of
  interleaved runs): ONNX Runtime fp32 26.5 vs 51 ms, int8 19 vs 54 ms (transposed convolutions
  stay float), torch bf16 17 vs 23 ms.
* ``"smplpix-unet"``: the SMPLpix reference U-Net. Its module names match the original
  implementation exactly, so an original SMPLpix state dict loads with ``load_state_dict``.

:class:`GeneratorGraph` wraps either network with the generator I/O contract shared by every
backend: inputs ``gbuffer0``, ``gbuffer1``, ... of shape (1, H, W, 4) float32 (channels-last,
row 0 = top), output ``rgb`` (1, H, W, 3) float32 in [0, 1]. The graph selects the channels the
manifest lists, concatenates them and converts NHWC ↔ NCHW itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from smplpix_rt.errors import InputError
from smplpix_rt.generator.manifest import Manifest

# -- pixnet ----------------------------------------------------------------------------------------


class _PixDown(nn.Module):
    """4×4 stride-2 convolution → (BatchNorm) → LeakyReLU(0.2): halves H and W."""

    def __init__(self, in_channels: int, out_channels: int, norm: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=not norm)
        self.norm = nn.BatchNorm2d(out_channels) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.norm(self.conv(x)), 0.2)


class _PixUp(nn.Module):
    """3×3 convolution at the coarse resolution → BatchNorm → ReLU → optional bilinear ×2."""

    def __init__(self, in_channels: int, out_channels: int, upsample: bool) -> None:
        super().__init__()
        self.upsample = upsample
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm(self.conv(x)))
        if self.upsample:
            y = F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=False)
        return y


class PixNet(nn.Module):
    """Light pix2pix-style encoder-decoder for interactive CPU inference.

    Down: ``depth`` levels of 4×4 stride-2 conv (+BatchNorm) + LeakyReLU. Up: at each level a
    3×3 conv on [features, skip] at the coarse resolution, BatchNorm, ReLU, then bilinear ×2,
    up to H/2. Head: a 3×3 sub-pixel convolution (conv to 4·out channels + pixel shuffle ×2,
    initialized so the four sub-pixels start equal: no checkerboard at init) plus a 3×3 conv on
    the full-resolution input that keeps silhouettes sharp; sigmoid. No full-width layer runs at
    full resolution, which is where a CPU spends its time on memory traffic.

    Args:
        in_channels: channels of the network input (8 for the neural encoding).
        out_channels: image channels (3).
        base_filters: filters of the first level; doubles per level up to ``max_filters``.
        depth: number of stride-2 levels; H and W must be multiples of ``2**depth``.
        max_filters: cap on the filters per level.

    Shapes: (N, in_channels, H, W) → (N, out_channels, H, W) in [0, 1].
    """

    def __init__(
        self,
        in_channels: int = 8,
        out_channels: int = 3,
        base_filters: int = 32,
        depth: int = 5,
        max_filters: int = 256,
    ) -> None:
        super().__init__()
        if min(depth, base_filters, max_filters, in_channels, out_channels) < 1:
            raise InputError("pixnet depth, base_filters, max_filters, in_channels and out_channels must be positive")
        self.in_channels = in_channels
        self.size_multiple = 2**depth
        widths = [min(base_filters * 2**i, max_filters) for i in range(depth)]
        self.down = nn.ModuleList(
            _PixDown(in_channels if i == 0 else widths[i - 1], widths[i], norm=i > 0) for i in range(depth)
        )
        # up[j] works at level depth-1-j; every level below the bottom also takes its skip.
        self.up = nn.ModuleList(
            _PixUp(
                widths[level] * (1 if level == depth - 1 else 2),
                widths[level - 1] if level > 0 else widths[0],
                upsample=level > 0,
            )
            for level in reversed(range(depth))
        )
        self.head = nn.Conv2d(widths[0], out_channels * 4, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        with torch.no_grad():  # ICNR: every sub-pixel of an output channel starts with the same filter
            self.head.weight.copy_(self.head.weight[::4].repeat_interleave(4, dim=0))
            self.head.bias.copy_(self.head.bias[::4].repeat_interleave(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = x
        for block in self.down:
            h = block(h)
            skips.append(h)
        h = skips.pop()
        for j, block in enumerate(self.up):
            if j > 0:
                h = torch.cat([h, skips.pop()], dim=1)
            h = block(h)
        return torch.sigmoid(F.pixel_shuffle(self.head(h), 2) + self.skip(x))

    def conv_norm_pairs(self) -> list[tuple[str, str]]:
        """(convolution, BatchNorm) module paths that fold together at inference."""
        pairs = [(f"down.{i}.conv", f"down.{i}.norm") for i in range(1, len(self.down))]
        return pairs + [(f"up.{j}.conv", f"up.{j}.norm") for j in range(len(self.up))]


# -- smplpix-unet ------------------------------------------------------------------------------------


class _UnetDown(nn.Module):
    """conv1 → norm0 → ReLU → conv2 → norm1 → ReLU (skip taken here) → optional 2×2 max-pool."""

    def __init__(self, in_channels: int, out_channels: int, pool: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.norm0 = nn.BatchNorm2d(out_channels)
        self.norm1 = nn.BatchNorm2d(out_channels)
        self.pool = nn.MaxPool2d(2, ceil_mode=True) if pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = F.relu(self.norm0(self.conv1(x)))
        skip = F.relu(self.norm1(self.conv2(y)))
        return self.pool(skip), skip


class _ResizeConv(nn.Module):
    """Bilinear ×2 (align_corners=False) then a 3×3 convolution."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False))


class _UnetUp(nn.Module):
    """upconv → norm0 → ReLU → concat [upsampled, skip] → conv1 → norm1 → ReLU → conv2 → norm2 → ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.upconv = _ResizeConv(in_channels, out_channels)
        self.conv1 = nn.Conv2d(2 * out_channels, out_channels, 3, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.norm0 = nn.BatchNorm2d(out_channels)
        self.norm1 = nn.BatchNorm2d(out_channels)
        self.norm2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.relu(self.norm0(self.upconv(x)))
        y = F.relu(self.norm1(self.conv1(torch.cat([up, skip], dim=1))))
        return F.relu(self.norm2(self.conv2(y)))


class SmplpixUNet(nn.Module):
    """The SMPLpix reference U-Net (state-dict compatible with the original implementation).

    Args:
        in_channels: input channels (3 for the smplpix encoding).
        out_channels: image channels (3).
        start_filters: filters of the first block; doubles per block (32 → 512 with 5 blocks).
        n_blocks: encoder blocks; H and W must be multiples of ``2**(n_blocks - 1)``.

    Shapes: (N, in_channels, H, W) → (N, out_channels, H, W) in [0, 1].
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, start_filters: int = 32, n_blocks: int = 5) -> None:
        super().__init__()
        if n_blocks < 2 or start_filters < 1 or in_channels < 1 or out_channels < 1:
            raise InputError("smplpix-unet needs n_blocks >= 2 and positive channel counts")
        self.in_channels = in_channels
        self.size_multiple = 2 ** (n_blocks - 1)
        widths = [start_filters * 2**i for i in range(n_blocks)]
        self.down_convs = nn.ModuleList(
            _UnetDown(in_channels if i == 0 else widths[i - 1], widths[i], pool=i < n_blocks - 1)
            for i in range(n_blocks)
        )
        self.up_convs = nn.ModuleList(
            _UnetUp(widths[n_blocks - 1 - i], widths[n_blocks - 2 - i]) for i in range(n_blocks - 1)
        )
        self.conv_final = nn.Conv2d(start_filters, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = x
        for block in self.down_convs:
            h, skip = block(h)
            skips.append(skip)
        skips.pop()  # the bottom block's output is h itself
        for block in self.up_convs:
            h = block(h, skips.pop())
        return torch.sigmoid(self.conv_final(h))

    def conv_norm_pairs(self) -> list[tuple[str, str]]:
        """(convolution, BatchNorm) module paths that fold together at inference."""
        pairs = []
        for i in range(len(self.down_convs)):
            pairs += [
                (f"down_convs.{i}.conv1", f"down_convs.{i}.norm0"),
                (f"down_convs.{i}.conv2", f"down_convs.{i}.norm1"),
            ]
        for i in range(len(self.up_convs)):
            p = f"up_convs.{i}"
            pairs += [(f"{p}.upconv.conv", f"{p}.norm0"), (f"{p}.conv1", f"{p}.norm1"), (f"{p}.conv2", f"{p}.norm2")]
        return pairs


# -- registry, graph wrapper, utilities --------------------------------------------------------------

ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {"pixnet": PixNet, "smplpix-unet": SmplpixUNet}


def build_network(arch: str, **kwargs: int | float | str | bool) -> nn.Module:
    """Build a generator network by architecture name.

    Args:
        arch: ``"pixnet"`` or ``"smplpix-unet"``.
        **kwargs: constructor arguments of that architecture.

    Raises:
        InputError: unknown architecture or constructor argument.
    """
    if arch not in ARCHITECTURES:
        raise InputError(f"unknown generator architecture {arch!r}; known: {sorted(ARCHITECTURES)}")
    cls = ARCHITECTURES[arch]
    accepted = set(inspect.signature(cls).parameters)
    unknown = set(kwargs) - accepted
    if unknown:
        raise InputError(f"architecture {arch!r} takes no argument(s) {sorted(unknown)}; it takes {sorted(accepted)}")
    return cls(**kwargs)


def build_from_manifest(manifest: Manifest) -> nn.Module:
    """Build the (untrained) network a manifest describes, checking its input channel count."""
    net = build_network(manifest.architecture.name, **manifest.architecture.kwargs())
    _check_net_matches(net, manifest)
    return net


def _check_net_matches(net: nn.Module, manifest: Manifest) -> None:
    if net.in_channels != manifest.in_channels:
        raise InputError(
            f"the network reads {net.in_channels} channels but the manifest's inputs select "
            f"{manifest.in_channels}; set in_channels={manifest.in_channels} in the architecture params"
        )
    if manifest.size_multiple % net.size_multiple != 0:
        raise InputError(
            f"manifest size_multiple {manifest.size_multiple} is not a multiple of the network's "
            f"{net.size_multiple}; set size_multiple={net.size_multiple}"
        )


class GeneratorGraph(nn.Module):
    """A network plus the generator I/O contract (what gets exported to ONNX).

    ``forward(gbuffer0, gbuffer1, ...)``: each (1, H, W, 4) float32, channels-last, row 0 = top.
    Returns ``rgb`` (1, H, W, 3) float32 in [0, 1].

    Args:
        net: a network with ``in_channels`` and ``size_multiple`` attributes.
        manifest: its manifest (channel selection per input).
        compute_dtype: dtype the network runs in (``torch.float16`` for an fp16 export); the
            inputs are cast to it and the output back to float32 inside the graph.

    Raises:
        InputError: the network's channel count or size multiple disagrees with the manifest.
    """

    def __init__(self, net: nn.Module, manifest: Manifest, compute_dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        _check_net_matches(net, manifest)
        self.net = net
        self.manifest = manifest
        self.compute_dtype = compute_dtype
        self._channels = tuple(spec.channels for spec in manifest.inputs)

    def forward(self, *planes: torch.Tensor) -> torch.Tensor:
        parts = []
        for plane, channels in zip(planes, self._channels, strict=True):
            parts.extend(_select_channels(plane, channels))
        x = torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]
        x = x.permute(0, 3, 1, 2).to(self.compute_dtype)
        return self.net(x).permute(0, 2, 3, 1).to(torch.float32)


def _select_channels(plane: torch.Tensor, channels: tuple[int, ...]) -> list[torch.Tensor]:
    """Contiguous runs of ``channels`` as slices of ``plane`` (a Slice per run in ONNX, no Gather)."""
    runs: list[list[int]] = []
    for c in channels:
        if runs and c == runs[-1][-1] + 1:
            runs[-1].append(c)
        else:
            runs.append([c])
    if len(runs) == 1 and len(runs[0]) == plane.shape[-1]:
        return [plane]
    return [plane[..., run[0] : run[-1] + 1] for run in runs]


def fold_batchnorm(net: nn.Module) -> nn.Module:
    """Fold every (conv, BatchNorm) pair of an eval-mode network into the conv, in place.

    The BatchNorm modules become identities; the output is unchanged up to rounding.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if net.training:
        raise InputError("fold_batchnorm needs a network in eval mode (call net.eval() first)")
    for conv_path, norm_path in net.conv_norm_pairs():
        conv, norm = net.get_submodule(conv_path), net.get_submodule(norm_path)
        if isinstance(norm, nn.Identity):
            continue
        transpose = isinstance(conv, nn.ConvTranspose2d)
        fused = fuse_conv_bn_eval(conv, norm, transpose=transpose)
        parent, _, name = conv_path.rpartition(".")
        setattr(net.get_submodule(parent), name, fused)
        parent, _, name = norm_path.rpartition(".")
        setattr(net.get_submodule(parent), name, nn.Identity())
    return net


def count_flops(net: nn.Module, height: int, width: int) -> int:
    """Floating-point operations of one forward pass at (height, width), batch 1.

    Counts 2 × multiply-accumulates of every Conv2d, ConvTranspose2d and Linear layer (the
    elementwise ops, norms and resampling are ignored: they are a few percent here).
    """
    macs = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            macs += output.numel() * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, nn.ConvTranspose2d):
            kh, kw = module.kernel_size
            macs += inputs[0].numel() * (module.out_channels // module.groups) * kh * kw
        elif isinstance(module, nn.Linear):
            macs += output.numel() * module.in_features

    handles = [
        m.register_forward_hook(hook)
        for m in net.modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))
    ]
    modes = {module: module.training for module in net.modules()}
    try:
        net.eval()
        param = next(net.parameters())
        with torch.inference_mode():
            net(torch.zeros(1, net.in_channels, height, width, dtype=param.dtype, device=param.device))
    finally:
        for module, mode in modes.items():
            module.training = mode
        for handle in handles:
            handle.remove()
    return 2 * macs


__all__ = [
    "PixNet",
    "SmplpixUNet",
    "ARCHITECTURES",
    "build_network",
    "build_from_manifest",
    "GeneratorGraph",
    "fold_batchnorm",
    "count_flops",
]
