"""Behaviour of GBufferRenderer: geometry lands where the camera says, encodings mean what they document."""

from __future__ import annotations

import dataclasses
import math

import moderngl
import numpy as np
import pytest
from raster_meshes import ellipsoid, facing_triangle, front_camera, make_topology, snowman_mesh, sphere_mesh

from smplpix_rt.body.skinning import is_closed_surface
from smplpix_rt.camera import Camera, look_at
from smplpix_rt.contracts import Mesh, MeshTopology
from smplpix_rt.errors import InputError, SmplpixError
from smplpix_rt.raster import GBufferRenderer, create_headless_context
from smplpix_rt.raster import renderer as renderer_module
from smplpix_rt.raster.encodings import NEURAL, NEURAL_DEPTH_SCALE_M
from smplpix_rt.raster.mesh_buffers import TopologyCache

pytestmark = pytest.mark.gl


@pytest.fixture(scope="module")
def ctx():
    context = create_headless_context()
    yield context
    context.release()


def mask_centroid(mask: np.ndarray) -> np.ndarray:
    """(column, row) mean of the covered pixels."""
    rows, cols = np.nonzero(mask)
    return np.array([cols.mean(), rows.mean()])


def quad(size: float, yaw_deg: float, color=(0.8, 0.6, 0.4), normal=None) -> Mesh:
    """A square in the XY plane turned by ``yaw_deg`` about +Y, facing +Z before the turn."""
    corners = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], np.float64) * size / 2
    yaw = math.radians(yaw_deg)
    rot = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
    vertices = (corners @ rot.T).astype(np.float32)
    normals = np.tile(rot[:, 2] if normal is None else normal, (4, 1)).astype(np.float32)
    topology = MeshTopology(
        faces=np.array([[0, 1, 2], [0, 2, 3]], np.int32),
        rest_coords=(corners / size * 2).astype(np.float32),
        vertex_colors=np.tile(color, (4, 1)).astype(np.float32),
    )
    return Mesh(vertices=vertices, normals=normals, topology=topology)


# ------------------------------------------------------------------------------------ geometry


def test_sphere_mask_area_matches_projected_disc(ctx):
    size, radius, distance = 160, 0.5, 3.0
    camera = front_camera(size, distance=distance)
    with GBufferRenderer(ctx, size, size) as renderer:
        gbuffer = renderer.render(sphere_mesh(radius), camera)
    disc_radius = camera.fx * radius / math.sqrt(distance**2 - radius**2)  # tangent cone of the sphere
    expected = math.pi * disc_radius**2
    assert gbuffer.mask.sum() == pytest.approx(expected, rel=0.02)
    centre = mask_centroid(gbuffer.mask)
    np.testing.assert_allclose(centre, [camera.cx, camera.cy], atol=0.3)


def test_moving_the_camera_right_moves_the_body_left(ctx):
    size = 96
    mesh = snowman_mesh(detail=10)
    rotation, _ = look_at(np.array([0.0, 0.0, 3.0]), np.zeros(3))
    centres = []
    with GBufferRenderer(ctx, size, size) as renderer:
        for eye_x in (0.0, 0.3):
            eye = np.array([eye_x, 0.0, 3.0])
            camera = Camera.from_fov(size, size, 40.0, rotation, -rotation @ eye)
            centres.append(mask_centroid(renderer.render(mesh, camera).mask))
    shift = centres[1] - centres[0]
    expected = camera.fx * 0.3 / 3.0  # image shift of the figure's centre plane
    assert shift[0] < -0.7 * expected
    assert abs(shift[1]) < 0.5


def test_point_lands_on_the_pixel_camera_project_predicts(ctx):
    rotation, translation = look_at(np.array([1.2, 0.8, 2.5]), np.array([0.1, -0.1, 0.0]))
    camera = Camera(120, 90, fx=110.0, fy=100.0, cx=50.3, cy=47.8, rotation=rotation, translation=translation)
    points = np.array([[-0.35, 0.3, 0.2], [0.25, -0.4, -0.1]])
    with GBufferRenderer(ctx, camera.width, camera.height) as renderer:
        for point, pixel in zip(points, camera.project(points), strict=True):
            depth = (rotation @ point + translation)[2]
            marker = facing_triangle(point, camera, size=4.0 * depth / camera.fx)  # ~6 px wide
            mask = renderer.render(marker, camera).mask
            assert 8 <= mask.sum() <= 40
            np.testing.assert_allclose(mask_centroid(mask), pixel, atol=0.5)


def test_nearer_surface_wins_whatever_the_draw_order(ctx):
    size = 64
    camera = front_camera(size)
    near, far = quad(1.0, 0.0), quad(1.0, 0.0)
    vertices = np.concatenate([near.vertices + [0, 0, 0.3], far.vertices + [0.2, 0, -0.3]]).astype(np.float32)
    rest = np.concatenate([np.full((4, 3), 0.5), np.full((4, 3), -0.5)]).astype(np.float32)
    faces = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]], np.int32)
    with GBufferRenderer(ctx, size, size) as renderer:
        for order in (faces, faces[::-1]):
            topology = MeshTopology(faces=order.copy(), rest_coords=rest)
            mesh = Mesh(vertices, np.concatenate([near.normals, far.normals]), topology)
            plane = renderer.render(mesh, camera).planes[0]
            assert plane[size // 2, size // 2, 0] == pytest.approx(0.5, abs=1e-3)


def test_faces_are_drawn_from_both_sides(ctx):
    size = 48
    camera = front_camera(size)
    mesh = quad(1.0, 0.0)
    flipped = Mesh(mesh.vertices, mesh.normals, dataclasses.replace(mesh.topology, faces=mesh.topology.faces[:, ::-1]))
    with GBufferRenderer(ctx, size, size, encoding="smplpix") as renderer:
        a, b = renderer.render(mesh, camera), renderer.render(flipped, camera)
    assert a.mask.sum() > 100
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_allclose(a.planes[0], b.planes[0], atol=1e-3)


def closed(mesh: Mesh, faces: np.ndarray | None = None) -> Mesh:
    """``mesh`` with its topology marked closed (and ``faces`` instead of its own, if given)."""
    faces = mesh.topology.faces if faces is None else faces
    return Mesh(mesh.vertices, mesh.normals, dataclasses.replace(mesh.topology, faces=faces, closed=True))


def test_is_closed_surface():
    _, _, faces, _ = ellipsoid((0, 0, 0), (1, 1, 1), rings=6, segments=8)
    assert is_closed_surface(faces)
    assert is_closed_surface(np.concatenate([faces, faces + faces.max() + 1]))  # two separate closed parts
    assert is_closed_surface(faces[:, ::-1])  # inside-out is still closed and consistent
    assert not is_closed_surface(faces[1:])  # a hole
    flipped = faces.copy()
    flipped[3] = flipped[3, ::-1]
    assert not is_closed_surface(flipped)  # one face wound the other way
    assert not is_closed_surface(np.concatenate([faces, faces[:1]]))  # a face twice: non-manifold edges
    assert not is_closed_surface(np.zeros((0, 3), np.int32))


@pytest.mark.parametrize("encoding", ["neural", "smplpix", "shaded"])
def test_skipping_back_faces_of_a_closed_mesh_leaves_the_image_unchanged(ctx, encoding):
    size = 80
    mesh = snowman_mesh(detail=14)  # four closed ellipsoids, the arms sunk into the body
    eyes = [(0.0, 0.0, 3.0), (2.2, 1.4, -1.6), (-0.4, -2.6, 0.9), (0.0, 0.3, -1.2), (1.0, 0.1, 0.6)]
    with GBufferRenderer(ctx, size, size, encoding=encoding) as renderer:
        for eye in eyes:
            camera = front_camera(size, eye=eye, fov_y_deg=60.0)
            assert renderer_module.skips_back_faces(closed(mesh).topology, mesh.vertices, camera)
            culled, drawn = renderer.render(closed(mesh), camera), renderer.render(mesh, camera)
            assert drawn.mask.sum() > 100
            np.testing.assert_array_equal(culled.mask, drawn.mask)
            # Where a back face meets a front face at the silhouette the depth test may pick either.
            differ = np.any([np.abs(a - b).max(-1) > 1e-3 for a, b in zip(culled.planes, drawn.planes, strict=True)], 0)
            assert differ.sum() <= 3


def test_skipped_faces_are_the_ones_facing_away(ctx):
    # An inside-out sphere marked closed: from outside only its far half faces the camera.
    size = 64
    sphere = sphere_mesh(0.5)
    inside_out = closed(sphere, sphere.topology.faces[:, ::-1].copy())
    camera = front_camera(size, distance=3.0)
    with GBufferRenderer(ctx, size, size) as renderer:
        near_depth = renderer.render(sphere, camera).planes[1][size // 2, size // 2, 3]
        far_depth = renderer.render(inside_out, camera).planes[1][size // 2, size // 2, 3]
    assert near_depth == pytest.approx(-0.5 / NEURAL_DEPTH_SCALE_M, abs=0.02)  # front of the sphere
    assert far_depth == pytest.approx(0.5 / NEURAL_DEPTH_SCALE_M, abs=0.02)  # back of the sphere


def test_back_faces_are_drawn_when_the_camera_sees_inside(ctx):
    size = 64
    sphere = closed(sphere_mesh(0.5))
    inside = front_camera(size, distance=0.2)  # the camera sits inside the sphere
    clipped = dataclasses.replace(front_camera(size, distance=3.0), far=3.2)  # the far plane cuts the sphere
    for camera in (inside, clipped):
        assert not renderer_module.skips_back_faces(sphere.topology, sphere.vertices, camera)
    with GBufferRenderer(ctx, size, size) as renderer:
        assert renderer.render(sphere, inside).mask.all()  # the inner wall all round


def test_widen_half_is_exact_and_leaves_the_thread_setting_alone():
    import torch

    bits = np.arange(65536, dtype=np.uint16)  # every half float: zeros, subnormals, inf, NaN
    half = bits.view(np.float16).reshape(256, 64, 4)
    threads = torch.get_num_threads()
    wide = renderer_module.widen_half(half)
    assert wide.dtype == np.float32 and wide.shape == half.shape and torch.get_num_threads() == threads
    expected = half.astype(np.float32)
    np.testing.assert_array_equal(np.isnan(wide), np.isnan(expected))
    finite = ~np.isnan(expected)
    np.testing.assert_array_equal(wide[finite], expected[finite])
    np.testing.assert_array_equal(np.signbit(wide), np.signbit(expected))


# ----------------------------------------------------------------------------------- encodings


def test_neural_encoding_values_on_a_sphere(ctx):
    size, radius = 96, 0.5
    with GBufferRenderer(ctx, size, size) as renderer:
        near = renderer.render(sphere_mesh(radius), front_camera(size, distance=3.0))
        far = renderer.render(
            sphere_mesh(radius, center=(0.4, 0.2, -2.0)),
            front_camera(size, eye=(0.4, 0.2, 3.0), target=(0.4, 0.2, -2.0)),
        )
    c = size // 2
    for gbuffer in (near, far):
        rest, geometry = gbuffer.planes
        np.testing.assert_allclose(rest[c, c], [0.0, 0.0, 1.0, 1.0], atol=0.05)  # front pole (half a pixel off)
        np.testing.assert_allclose(geometry[c, c, :3], [0.0, 0.0, -1.0], atol=0.05)  # faces the camera
        # the front pole is one radius in front of the centroid, whatever the distance
        assert geometry[c, c, 3] == pytest.approx(-radius / NEURAL_DEPTH_SCALE_M, abs=0.02)
        assert np.all(rest[~gbuffer.mask] == 0) and np.all(geometry[~gbuffer.mask] == 0)
        np.testing.assert_array_equal(gbuffer.mask, rest[..., 3] > 0.5)
    rest, geometry = near.planes
    assert geometry[c, c + 14, 0] > 0.5  # right side: normal along +x (OpenCV right)
    assert geometry[c - 14, c, 1] < -0.5  # top: normal along -y (OpenCV y points down)
    assert rest[c - 14, c, 1] > 0.5  # the top of the image is the sphere's top (+Y up)
    lengths = np.linalg.norm(geometry[near.mask][:, :3], axis=1)
    np.testing.assert_allclose(lengths, 1.0, atol=2e-3)


def test_smplpix_encoding_is_flat_lit_from_the_camera_on_white(ctx):
    size = 64
    camera = front_camera(size)
    color = np.array([0.8, 0.6, 0.4])
    with GBufferRenderer(ctx, size, size, encoding="smplpix") as renderer:
        facing = renderer.render(quad(1.0, 0.0), camera)
        # 60 degrees away from the light; vertex normals that lie must not matter (flat shading)
        turned = renderer.render(quad(1.0, 60.0, normal=(1.0, 0.0, 0.0)), camera)
    assert len(facing.planes) == 1
    for gbuffer, lambert in ((facing, 1.0), (turned, 0.5)):
        plane = gbuffer.planes[0]
        inside = plane[gbuffer.mask]
        assert len(inside) > 100
        np.testing.assert_allclose(inside[:, :3], np.tile(color * (0.3 + 0.7 * lambert), (len(inside), 1)), atol=4e-3)
        np.testing.assert_array_equal(plane[~gbuffer.mask], np.tile([1.0, 1.0, 1.0, 0.0], ((~gbuffer.mask).sum(), 1)))


def test_shaded_preview_is_dark_outside_and_brighter_where_lit(ctx):
    size = 96
    with GBufferRenderer(ctx, size, size, encoding="shaded") as renderer:
        gbuffer = renderer.render(sphere_mesh(0.5), front_camera(size))
    rgb = gbuffer.planes[0][..., :3]
    assert rgb[~gbuffer.mask].max() < 0.2
    # light comes from the upper left of the camera: that side of the sphere is brighter
    c = size // 2
    assert rgb[c - 12, c - 12].mean() > rgb[c + 12, c + 12].mean() + 0.1


def test_set_encoding_changes_targets(ctx):
    mesh, camera = sphere_mesh(0.5, rings=12, segments=24), front_camera(32)
    with GBufferRenderer(ctx, 32, 32) as renderer:
        assert len(renderer.textures) == 2
        renderer.set_encoding("smplpix")
        assert len(renderer.textures) == 1 and renderer.encoding.name == "smplpix"
        gbuffer = renderer.render(mesh, camera)
        assert gbuffer.encoding == "smplpix" and len(gbuffer.planes) == 1
        with pytest.raises(InputError, match="neural, smplpix, shaded"):
            renderer.set_encoding("depth")
        assert renderer.encoding.name == "smplpix"


def test_targets_with_their_own_background_value(ctx, monkeypatch):
    variant = dataclasses.replace(NEURAL, clear_values=((0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 7.0)))
    monkeypatch.setattr(renderer_module, "get_encoding", lambda name: variant)
    with GBufferRenderer(ctx, 48, 48) as renderer:
        gbuffer = renderer.render(sphere_mesh(0.5, rings=12, segments=24), front_camera(48))
    rest, geometry = gbuffer.planes
    assert np.all(geometry[~gbuffer.mask, 3] == 7.0)
    assert np.all(rest[~gbuffer.mask] == 0.0)
    assert np.all(np.abs(geometry[gbuffer.mask, 3]) < 2.0)


# -------------------------------------------------------------------------------- GPU-side use


def test_draw_leaves_the_result_in_textures_and_restores_the_bound_framebuffer(ctx):
    mesh, camera = sphere_mesh(0.5, rings=12, segments=24), front_camera(40)
    other = ctx.simple_framebuffer((8, 8))
    try:
        other.use()
        with GBufferRenderer(ctx, 40, 40) as renderer:
            expected = renderer.render(mesh, camera)
            renderer.draw(mesh, camera)
            assert ctx.fbo is other
            for texture, plane in zip(renderer.textures, expected.planes, strict=True):
                assert texture.size == (40, 40) and texture.dtype == "f2"
                data = np.frombuffer(texture.read(), np.float16).reshape(40, 40, 4)
                np.testing.assert_allclose(data, plane, atol=1e-3)
    finally:
        other.release()


def test_returned_planes_are_not_overwritten_by_the_next_frame(ctx):
    camera = front_camera(32)
    with GBufferRenderer(ctx, 32, 32) as renderer:
        first = renderer.render(sphere_mesh(0.5, rings=12, segments=24), camera)
        kept = [p.copy() for p in first.planes]
        renderer.render(sphere_mesh(0.2, rings=12, segments=24), camera)
    for plane, copy in zip(first.planes, kept, strict=True):
        np.testing.assert_array_equal(plane, copy)


def test_resize(ctx):
    mesh = sphere_mesh(0.5, rings=16, segments=32)
    with GBufferRenderer(ctx, 64, 48) as renderer:
        old_camera = Camera.from_fov(64, 48, 40.0, *look_at(np.array([0, 0, 3.0]), np.zeros(3)))
        renderer.resize(80, 40)
        assert (renderer.width, renderer.height) == (80, 40)
        assert all(t.size == (80, 40) for t in renderer.textures)
        camera = old_camera.resized(80, 40)
        gbuffer = renderer.render(mesh, camera)
        assert gbuffer.planes[0].shape == (40, 80, 4) and gbuffer.mask.shape == (40, 80)
        np.testing.assert_allclose(mask_centroid(gbuffer.mask), [camera.cx, camera.cy], atol=0.5)
        with pytest.raises(InputError, match="camera is 64x48 but the renderer is 80x40"):
            renderer.render(mesh, old_camera)
        with pytest.raises(InputError, match="render size"):
            renderer.resize(0, 10)


def test_release_frees_every_gl_object(ctx):
    renderer = GBufferRenderer(ctx, 32, 32)
    renderer.render(sphere_mesh(0.5, rings=12, segments=24), front_camera(32))
    renderer.set_encoding("smplpix")
    renderer.render(sphere_mesh(0.5, rings=12, segments=24), front_camera(32))
    textures = renderer.textures
    programs = list(renderer._programs.values())
    buffers = [b for entry in renderer._topologies._entries.values() for b in entry.buffers]
    assert len(programs) == 2 and len(buffers) == 8
    renderer.release()
    renderer.release()  # idempotent
    for obj in (*textures, *programs, *buffers):
        assert isinstance(obj.mglo, moderngl.InvalidObject)
    with pytest.raises(SmplpixError, match="released"):
        renderer.render(sphere_mesh(0.5, rings=12, segments=24), front_camera(32))
    with GBufferRenderer(ctx, 16, 16) as scoped:
        scoped_textures = scoped.textures
    assert all(isinstance(t.mglo, moderngl.InvalidObject) for t in scoped_textures)


def test_topology_cache_reuses_and_evicts_by_identity(ctx):
    meshes = [sphere_mesh(0.5, rings=6, segments=8) for _ in range(3)]
    cache = TopologyCache(ctx, capacity=2)
    try:
        first = cache.get(meshes[0].topology)
        assert cache.get(meshes[0].topology) is first
        second = cache.get(meshes[1].topology)
        cache.get(meshes[0].topology)  # most recently used again
        cache.get(meshes[2].topology)  # evicts the second topology
        assert len(cache) == 2
        assert all(isinstance(b.mglo, moderngl.InvalidObject) for b in second.buffers)
        assert not any(isinstance(b.mglo, moderngl.InvalidObject) for b in first.buffers)
    finally:
        cache.release()


# ------------------------------------------------------------------------------- input errors


def test_wrong_camera_size_is_an_input_error(ctx):
    with GBufferRenderer(ctx, 32, 32) as renderer, pytest.raises(InputError, match="camera.resized"):
        renderer.render(sphere_mesh(0.5, rings=6, segments=8), front_camera(33))


def test_invalid_meshes_are_input_errors(ctx):
    good = sphere_mesh(0.5, rings=6, segments=8)
    nan_vertices = good.vertices.copy()
    nan_vertices[3, 1] = np.nan
    bad_faces = good.topology.faces.copy()
    bad_faces[0, 0] = len(good.vertices)
    cases = {
        "contain NaN": Mesh(nan_vertices, good.normals, good.topology),
        r"must have shape \(42, 3\)": Mesh(good.vertices[:-1], good.normals, good.topology),
        "floating point": Mesh(good.vertices.astype(np.int64), good.normals, good.topology),
        "index vertices": Mesh(good.vertices, good.normals, dataclasses.replace(good.topology, faces=bad_faces)),
        "vertex_colors must have shape": Mesh(
            good.vertices,
            good.normals,
            dataclasses.replace(good.topology, vertex_colors=np.zeros((5, 3), np.float32)),
        ),
        "must be a MeshTopology": Mesh(good.vertices, good.normals, topology=None),
    }
    with GBufferRenderer(ctx, 16, 16) as renderer:
        for message, mesh in cases.items():
            with pytest.raises(InputError, match=message):
                renderer.render(mesh, front_camera(16))
        # float64 input is accepted (converted), and the renderer still works after errors
        converted = Mesh(good.vertices.astype(np.float64), good.normals, good.topology)
        assert renderer.render(converted, front_camera(16)).mask.any()


def test_unknown_encoding_in_constructor(ctx):
    with pytest.raises(InputError, match="unknown G-buffer encoding"):
        GBufferRenderer(ctx, 16, 16, encoding="uv")


def test_topology_without_vertex_colors_gets_a_rest_coordinate_colour_code(ctx):
    mesh = quad(1.0, 0.0)
    plain = Mesh(mesh.vertices, mesh.normals, make_topology(mesh.vertices, mesh.topology.faces))
    plain = Mesh(plain.vertices, plain.normals, dataclasses.replace(plain.topology, vertex_colors=None))
    with GBufferRenderer(ctx, 32, 32, encoding="smplpix") as renderer:
        gbuffer = renderer.render(plain, front_camera(32))
    rgb = gbuffer.planes[0][gbuffer.mask][:, :3]
    # (rest + 1) / 2 under full light: red follows rest x, green rest y, blue stays at the quad's z = 0
    assert rgb[:, 0].std() > 0.1 and rgb[:, 1].std() > 0.1
    np.testing.assert_allclose(rgb[:, 2], 0.5, atol=2e-3)
