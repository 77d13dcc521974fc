"""What the rasterizer writes per pixel: the G-buffer encodings.

Every encoding renders into one or more RGBA16F targets (float, values outside [0, 1] kept).
Channel values are documented per encoding; camera-space quantities use OpenCV axes (x right,
y down, z forward), the same as :class:`smplpix_rt.camera.Camera`.

``"neural"`` (default generator input), two targets, background all zeros:
  * target 0 = (rest_x, rest_y, rest_z, mask). ``rest_coords`` of the surface point: where on the
    canonical body this pixel lies. It is continuous and seam-free (unlike UVs), independent of
    pose and view, so the generator can learn a texture lookup keyed by it. ``mask`` is 1 on the
    body: the silhouette, and the only way to tell background from the rest-space origin.
  * target 1 = (normal_x, normal_y, normal_z, depth). The smooth unit vertex normal in camera
    axes gives the shading cues (light direction, wrinkles, facing). ``depth`` is the camera-space
    z relative to the mesh centroid, ``(z - z_centroid) / NEURAL_DEPTH_SCALE_M``: negative in
    front of the centroid, positive behind, and invariant to where the body stands, so the
    generator can order overlapping limbs without learning absolute distances.

``"smplpix"`` (input of SMPLpix-style generators), one target: the fixed per-vertex colours
(``MeshTopology.vertex_colors``, or ``(rest_coords + 1) / 2`` when absent), flat shaded per face
with ambient 0.3 + one directional light of strength 0.7 travelling along the camera's optical
axis; white background. Alpha is the mask (generators read RGB only). This reproduces SMPLpix's
pyrender setup (ambient 0.3, one default directional light with the camera's orientation),
written as Lambert shading: pyrender's exact material response is not reproduced.

``"shaded"`` (viewer preview, not a generator input), one target: grey smooth Lambert + ambient
shading lit from the upper left of the camera, dark background, alpha = mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from smplpix_rt.errors import InputError

#: Depth units of the neural encoding: 1.0 = this many metres behind the mesh centroid.
NEURAL_DEPTH_SCALE_M = 0.5


@dataclass(frozen=True)
class Lighting:
    """Ambient + one directional light, evaluated in camera space.

    Attributes:
        ambient: ambient term added to every lit pixel.
        diffuse: strength of the directional (Lambert) term.
        direction: (3,) direction the light travels in OpenCV camera axes (normalized by the renderer).
        albedo: (3,) surface colour used when the encoding has no per-vertex colours.
    """

    ambient: float
    diffuse: float
    direction: tuple[float, float, float] = (0.0, 0.0, 1.0)
    albedo: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class Encoding:
    """A G-buffer encoding: render targets, their channels and how the generator uses them.

    Attributes:
        name: registry key, e.g. ``"neural"``.
        description: one line for help texts and manifests.
        targets: per RGBA16F render target, the names of its 4 channels.
        generator_channels: names of the channels a generator reads, in order (empty: the
            encoding is for display only).
        clear_values: per target, the RGBA value of background pixels.
        mask_channel: name of the channel that is 1 on the body and 0 elsewhere.
        shader_define: macro selecting this encoding in ``shaders/gbuffer.glsl``.
        lighting: shading parameters, or None for unlit encodings.
        depth_scale_m: metres per depth unit, or None when the encoding stores no depth.
    """

    name: str
    description: str
    targets: tuple[tuple[str, str, str, str], ...]
    generator_channels: tuple[str, ...]
    clear_values: tuple[tuple[float, float, float, float], ...]
    mask_channel: str
    shader_define: str
    lighting: Lighting | None = None
    depth_scale_m: float | None = None

    @property
    def num_targets(self) -> int:
        """Number of RGBA16F render targets (= number of ``GBuffer.planes``)."""
        return len(self.targets)

    @property
    def is_generator_input(self) -> bool:
        """Whether a generator can be trained on this encoding."""
        return bool(self.generator_channels)

    def channel_index(self, channel: str) -> tuple[int, int]:
        """(target, component) of a channel name.

        Raises:
            InputError: the encoding has no such channel.
        """
        for target, names in enumerate(self.targets):
            if channel in names:
                return target, names.index(channel)
        available = ", ".join(name for names in self.targets for name in names)
        raise InputError(f"encoding {self.name!r} has no channel {channel!r}; channels: {available}")


NEURAL = Encoding(
    name="neural",
    description="rest-pose surface coordinates + mask, camera-space normals + centroid-relative depth",
    targets=(("rest_x", "rest_y", "rest_z", "mask"), ("normal_x", "normal_y", "normal_z", "depth")),
    generator_channels=("rest_x", "rest_y", "rest_z", "mask", "normal_x", "normal_y", "normal_z", "depth"),
    clear_values=((0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0)),
    mask_channel="mask",
    shader_define="ENCODING_NEURAL",
    depth_scale_m=NEURAL_DEPTH_SCALE_M,
)

SMPLPIX = Encoding(
    name="smplpix",
    description="SMPLpix-compatible: flat-shaded fixed vertex colours on white (ambient 0.3 + headlight 0.7)",
    targets=(("red", "green", "blue", "mask"),),
    generator_channels=("red", "green", "blue"),
    clear_values=((1.0, 1.0, 1.0, 0.0),),
    mask_channel="mask",
    shader_define="ENCODING_SMPLPIX",
    lighting=Lighting(ambient=0.3, diffuse=0.7, direction=(0.0, 0.0, 1.0)),
)

SHADED = Encoding(
    name="shaded",
    description="grey smooth-shaded preview on a dark background (display only)",
    targets=(("red", "green", "blue", "mask"),),
    generator_channels=(),
    clear_values=((0.11, 0.11, 0.13, 0.0),),
    mask_channel="mask",
    shader_define="ENCODING_SHADED",
    lighting=Lighting(ambient=0.22, diffuse=0.7, direction=(0.35, 0.45, 0.82), albedo=(0.82, 0.82, 0.82)),
)

#: All encodings by name.
ENCODINGS: MappingProxyType[str, Encoding] = MappingProxyType({e.name: e for e in (NEURAL, SMPLPIX, SHADED)})

#: The encoding generators use unless told otherwise.
DEFAULT_ENCODING = NEURAL.name


def encoding_names() -> tuple[str, ...]:
    """Names of all registered encodings."""
    return tuple(ENCODINGS)


def get_encoding(name: str) -> Encoding:
    """The encoding called ``name``.

    Raises:
        InputError: unknown name (the message lists the known ones).
    """
    try:
        return ENCODINGS[name]
    except (KeyError, TypeError):
        raise InputError(f"unknown G-buffer encoding {name!r}; choose one of: {', '.join(ENCODINGS)}") from None
