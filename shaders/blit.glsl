#version 330 core
// Draws a texture over the current viewport with one fullscreen triangle (no vertex buffer).
// Modes (one program each, selected by a define):
//   MODE_IMAGE    : the texture's RGB
//   MODE_CHANNELS : u_channels * texel + u_offset (pick, scale and shift G-buffer channels)
//   MODE_OVERLAY  : the overlay texture blended over the base texture by its alpha * u_opacity
// Textures hold image rows top-first; u_flip_y = 1 draws row 0 at the top of a GL framebuffer.

#if defined VERTEX_SHADER

uniform int u_flip_y;
out vec2 v_uv;

void main() {
    vec2 corner = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));  // (0,0) (2,0) (0,2)
    gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
    v_uv = vec2(corner.x, u_flip_y != 0 ? 1.0 - corner.y : corner.y);
}

#elif defined FRAGMENT_SHADER

in vec2 v_uv;
out vec4 out_color;

uniform sampler2D u_texture;
#if defined MODE_CHANNELS
uniform mat4 u_channels;   // rows select and scale the source channels of each output channel
uniform vec4 u_offset;
#elif defined MODE_OVERLAY
uniform sampler2D u_overlay;
uniform float u_opacity;
#endif

void main() {
    vec4 texel = texture(u_texture, v_uv);
#if defined MODE_IMAGE
    out_color = vec4(texel.rgb, 1.0);
#elif defined MODE_CHANNELS
    out_color = vec4((u_channels * texel + u_offset).rgb, 1.0);
#elif defined MODE_OVERLAY
    vec4 over = texture(u_overlay, v_uv);
    out_color = vec4(mix(texel.rgb, over.rgb, clamp(over.a * u_opacity, 0.0, 1.0)), 1.0);
#endif
}

#endif
