"""The encoding registry: names, channels, clear values, and that shaders implement each one."""

from __future__ import annotations

import pytest

from smplpix_rt.errors import InputError
from smplpix_rt.raster.encodings import DEFAULT_ENCODING, ENCODINGS, encoding_names, get_encoding
from smplpix_rt.resources import read_shader


def test_registry_lists_the_three_encodings_and_neural_is_default():
    assert encoding_names() == ("neural", "smplpix", "shaded")
    assert DEFAULT_ENCODING == "neural"


def test_unknown_encoding_error_lists_the_known_ones():
    with pytest.raises(InputError, match="neural, smplpix, shaded"):
        get_encoding("normals")


@pytest.mark.parametrize("name", list(ENCODINGS))
def test_encoding_specs_are_consistent(name):
    encoding = get_encoding(name)
    assert encoding.num_targets == len(encoding.clear_values) >= 1
    assert all(len(channels) == 4 for channels in encoding.targets)
    all_channels = [c for channels in encoding.targets for c in channels]
    assert len(set(all_channels)) == len(all_channels)
    assert set(encoding.generator_channels) <= set(all_channels)
    target, component = encoding.channel_index(encoding.mask_channel)
    assert encoding.clear_values[target][component] == 0.0  # background is outside the mask
    assert f"defined {encoding.shader_define}" in read_shader("gbuffer.glsl")


def test_neural_layout_is_rest_coords_mask_then_normals_depth():
    neural = get_encoding("neural")
    assert neural.targets == (("rest_x", "rest_y", "rest_z", "mask"), ("normal_x", "normal_y", "normal_z", "depth"))
    assert neural.channel_index("depth") == (1, 3)
    assert neural.clear_values == ((0, 0, 0, 0), (0, 0, 0, 0))
    assert neural.is_generator_input and len(neural.generator_channels) == 8


def test_smplpix_reads_rgb_on_white_and_shaded_is_display_only():
    smplpix = get_encoding("smplpix")
    assert smplpix.generator_channels == ("red", "green", "blue")
    assert smplpix.clear_values == ((1.0, 1.0, 1.0, 0.0),)
    assert (smplpix.lighting.ambient, smplpix.lighting.diffuse) == (0.3, 0.7)
    assert not get_encoding("shaded").is_generator_input


def test_channel_index_rejects_unknown_channel():
    with pytest.raises(InputError, match="no channel 'uv_u'"):
        get_encoding("neural").channel_index("uv_u")
