#version 330 core
// G-buffer encodings of a posed body mesh. One program per encoding, selected by a define:
//   ENCODING_NEURAL  : target 0 = (rest_coords xyz, mask), target 1 = (view normal xyz, depth)
//   ENCODING_SMPLPIX : target 0 = (vertex colour * (ambient + diffuse * flat Lambert), mask)
//   ENCODING_SHADED  : target 0 = (grey smooth Lambert + ambient, mask)
// Camera space follows OpenCV: x right, y down, z forward. The framebuffer's row 0 is the image's
// top row (see Camera.projection), so window-space x and y grow with camera-space x and y.

#if defined VERTEX_SHADER

uniform mat4 u_mvp;      // world -> clip
uniform mat4 u_view;     // world -> OpenCV camera (rigid)
uniform float u_depth_ref;
uniform float u_depth_scale;

in vec3 in_position;
in vec3 in_normal;
in vec3 in_rest;
in vec3 in_color;

out vec3 v_position_cam;
out vec3 v_normal_cam;
out vec3 v_rest;
out vec3 v_color;
out float v_depth;

void main() {
    vec4 world = vec4(in_position, 1.0);
    gl_Position = u_mvp * world;
    v_position_cam = (u_view * world).xyz;
    v_normal_cam = mat3(u_view) * in_normal;
    v_rest = in_rest;
    v_color = in_color;
    v_depth = (v_position_cam.z - u_depth_ref) / u_depth_scale;
}

#elif defined FRAGMENT_SHADER

in vec3 v_position_cam;
in vec3 v_normal_cam;
in vec3 v_rest;
in vec3 v_color;
in float v_depth;

layout(location = 0) out vec4 out_target0;
#if defined ENCODING_NEURAL
layout(location = 1) out vec4 out_target1;
#endif

uniform vec3 u_light_dir;   // direction the light travels, camera space, unit length
uniform float u_ambient;
uniform float u_diffuse;
uniform vec3 u_albedo;      // ENCODING_SHADED only

vec3 safe_normalize(vec3 v) {
    float len = length(v);
    return len > 1e-12 ? v / len : vec3(0.0, 0.0, -1.0);
}

void main() {
#if defined ENCODING_NEURAL
    out_target0 = vec4(v_rest, 1.0);
    out_target1 = vec4(safe_normalize(v_normal_cam), v_depth);
#elif defined ENCODING_SMPLPIX
    // Flat shading: the face normal from screen-space derivatives of the camera-space position.
    // Window x/y follow camera x/y, so cross(dx, dy) points away from the camera; negate it.
    vec3 face_normal = -safe_normalize(cross(dFdx(v_position_cam), dFdy(v_position_cam)));
    float lambert = max(dot(face_normal, -u_light_dir), 0.0);
    vec3 rgb = v_color * (u_ambient + u_diffuse * lambert);
    out_target0 = vec4(clamp(rgb, 0.0, 1.0), 1.0);
#elif defined ENCODING_SHADED
    vec3 n = safe_normalize(v_normal_cam);
    n = dot(n, v_position_cam) > 0.0 ? -n : n;  // light back faces seen through openings too
    float lambert = max(dot(n, -u_light_dir), 0.0);
    out_target0 = vec4(clamp(u_albedo * (u_ambient + u_diffuse * lambert), 0.0, 1.0), 1.0);
#endif
}

#endif
