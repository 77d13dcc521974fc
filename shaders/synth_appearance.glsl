#version 330 core
// Reference ("ground-truth") appearance of the synthetic avatar: procedural clothing and skin laid
// out by body part, rest-pose coordinates and UVs, lit by a camera-attached key light with a soft
// shadow map, a hemisphere fill modulated by baked ambient occlusion, a rim term and Blinn-Phong
// highlights. Camera space follows OpenCV: x right, y down, z forward.
//
// Parts (in_part): 0 skin, 1 shirt, 2 trousers, 3 shoes, 4 hair.

#if defined VERTEX_SHADER

uniform mat4 u_mvp;        // world -> clip
uniform mat4 u_view;       // world -> OpenCV camera (rigid)
uniform mat4 u_light_mvp;  // world -> light clip

in vec3 in_position;
in vec3 in_normal;
in vec3 in_rest;
in vec2 in_uv;
in float in_part;
in float in_ao;

out vec3 v_position_cam;
out vec3 v_normal_cam;
out vec3 v_rest;
out vec2 v_uv;
out float v_part;
out float v_ao;
out vec4 v_light_clip;

void main() {
    vec4 world = vec4(in_position, 1.0);
    gl_Position = u_mvp * world;
    v_position_cam = (u_view * world).xyz;
    v_normal_cam = mat3(u_view) * in_normal;
    v_rest = in_rest;
    v_uv = in_uv;
    v_part = in_part;
    v_ao = in_ao;
    v_light_clip = u_light_mvp * world;
}

#elif defined FRAGMENT_SHADER

in vec3 v_position_cam;
in vec3 v_normal_cam;
in vec3 v_rest;
in vec2 v_uv;
in float v_part;
in float v_ao;
in vec4 v_light_clip;

layout(location = 0) out vec4 out_color;

uniform sampler2DShadow u_shadow_map;
uniform vec2 u_shadow_texel;     // 1 / shadow map size
uniform vec3 u_key_dir;          // direction the key light travels, camera space, unit
uniform vec3 u_rim_dir;          // direction the rim light travels, camera space, unit
// Where the garment details sit, in rest coordinates (measured from the body by the renderer):
uniform vec2 u_belt_y;           // belt band [bottom, top]
uniform vec2 u_cuff_y;           // trouser cuff band [bottom, top]
uniform float u_sole_y;          // shoe soles below this height
uniform vec4 u_emblem;           // chest emblem centre (x, y), radius, stripe period
uniform float u_face_y;          // cheeks start above this height

const float PI = 3.14159265;

struct Material {
    vec3 albedo;
    float specular;
    float shininess;
};

float band(float x, float period, float duty, float softness) {
    // 1 inside the first `duty` fraction of every period, with smooth edges
    float f = fract(x / period);
    return smoothstep(0.0, softness, f) * (1.0 - smoothstep(duty - softness, duty, f));
}

Material skin(vec3 rest) {
    vec3 tone = vec3(0.80, 0.57, 0.45);
    // warmer cheeks and lips on the front of the head, slightly darker palms and soles
    float face = smoothstep(u_face_y, u_face_y + 0.05, rest.y) * smoothstep(0.0, 0.08, rest.z);
    tone = mix(tone, vec3(0.82, 0.48, 0.42), 0.35 * face);
    return Material(tone, 0.18, 24.0);
}

Material shirt(vec3 rest, vec2 uv) {
    vec3 base = vec3(0.10, 0.42, 0.50);
    vec3 stripe = vec3(0.92, 0.86, 0.68);
    float s = band(rest.y + 2.0, u_emblem.w, 0.35, 0.012);
    vec3 albedo = mix(base, stripe, s);
    // fine woven check in UV space
    float weave = 0.5 + 0.5 * sin(uv.x * 300.0) * sin(uv.y * 300.0);
    albedo *= 0.95 + 0.05 * weave;
    // round emblem on the chest (front is +z)
    vec2 d = rest.xy - u_emblem.xy;
    float emblem = (1.0 - smoothstep(u_emblem.z, u_emblem.z * 1.15, length(d))) * step(0.0, rest.z);
    albedo = mix(albedo, vec3(0.95, 0.45, 0.10), emblem);
    return Material(albedo, 0.08, 12.0);
}

Material trousers(vec3 rest, vec2 uv) {
    vec3 denim = vec3(0.16, 0.22, 0.42);
    float twill = 0.5 + 0.5 * sin((uv.x + uv.y) * 500.0);
    vec3 albedo = denim * (0.92 + 0.12 * twill);
    // belt around the waist with a buckle at the front
    float belt = smoothstep(u_belt_y.x, u_belt_y.x + 0.005, rest.y) * (1.0 - smoothstep(u_belt_y.y - 0.005, u_belt_y.y, rest.y));
    albedo = mix(albedo, vec3(0.12, 0.07, 0.04), belt);
    float buckle = belt * (1.0 - smoothstep(0.03, 0.035, abs(rest.x))) * step(0.0, rest.z);
    albedo = mix(albedo, vec3(0.85, 0.70, 0.30), buckle);
    // lighter turned-up cuffs above the ankles
    float cuff = smoothstep(u_cuff_y.x, u_cuff_y.x + 0.01, rest.y) * (1.0 - smoothstep(u_cuff_y.y - 0.01, u_cuff_y.y, rest.y));
    albedo = mix(albedo, vec3(0.45, 0.55, 0.72), cuff);
    float specular = mix(0.05, 0.6, buckle);
    return Material(albedo, specular, mix(8.0, 60.0, buckle));
}

Material shoes(vec3 rest) {
    float sole = 1.0 - smoothstep(u_sole_y - 0.005, u_sole_y + 0.005, rest.y);
    vec3 albedo = mix(vec3(0.09, 0.06, 0.05), vec3(0.90, 0.90, 0.88), sole);
    return Material(albedo, mix(0.55, 0.05, sole), 48.0);
}

Material hair(vec3 rest) {
    float streak = 0.5 + 0.5 * sin(rest.x * 220.0 + rest.z * 90.0);
    return Material(vec3(0.20, 0.12, 0.07) * (0.85 + 0.3 * streak), 0.35, 30.0);
}

Material material_of(int part, vec3 rest, vec2 uv) {
    if (part == 1) return shirt(rest, uv);
    if (part == 2) return trousers(rest, uv);
    if (part == 3) return shoes(rest);
    if (part == 4) return hair(rest);
    return skin(rest);
}

float key_shadow(vec3 n_dot_l_info) {
    vec3 p = v_light_clip.xyz / v_light_clip.w * 0.5 + 0.5;
    // slope-scaled bias against self-shadowing acne
    float bias = 0.0015 + 0.004 * (1.0 - n_dot_l_info.x);
    float lit = 0.0;
    // 4x4 PCF with the hardware 2x2 comparison filter: a soft penumbra a few texels wide
    for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 4; ++j) {
            vec2 offset = (vec2(float(i), float(j)) - 1.5) * 1.6 * u_shadow_texel;
            lit += texture(u_shadow_map, vec3(p.xy + offset, p.z - bias));
        }
    }
    return lit / 16.0;
}

void main() {
    vec3 n = normalize(v_normal_cam);
    vec3 v = normalize(-v_position_cam);        // towards the camera
    if (dot(n, v) < 0.0) n = -n;                // seen through an opening: light the inside
    int part = int(v_part + 0.5);
    Material m = material_of(part, v_rest, v_uv);
    vec3 albedo = pow(m.albedo, vec3(2.2));     // work in linear light

    vec3 l = -u_key_dir;                        // towards the key light
    float ndl = dot(n, l);
    float wrap = part == 0 ? 0.25 : 0.08;       // a little light wrap on skin
    float diffuse = max((ndl + wrap) / (1.0 + wrap), 0.0);
    float shadow = key_shadow(vec3(max(ndl, 0.0)));
    vec3 key = vec3(1.0, 0.95, 0.88) * 2.6 * diffuse * shadow;

    float up = 0.5 - 0.5 * n.y;                 // camera-space "up" is -y
    vec3 fill = mix(vec3(0.16, 0.14, 0.13), vec3(0.42, 0.47, 0.56), up) * mix(0.35, 1.0, v_ao);

    float rim = pow(1.0 - max(dot(n, v), 0.0), 3.0) * max(dot(n, -u_rim_dir), 0.0);
    vec3 rim_light = vec3(0.65, 0.75, 1.0) * 0.9 * rim * v_ao;

    vec3 h = normalize(l + v);
    float spec = m.specular * pow(max(dot(n, h), 0.0), m.shininess) * (m.shininess + 8.0) / (8.0 * PI);
    vec3 color = albedo * (key + fill + rim_light) + vec3(1.0, 0.97, 0.92) * 2.0 * spec * shadow * step(0.0, ndl);

    color = color / (1.0 + 0.15 * color);       // gentle highlight roll-off
    out_color = vec4(pow(clamp(color, 0.0, 1.0), vec3(1.0 / 2.2)), 1.0);
}

#endif
