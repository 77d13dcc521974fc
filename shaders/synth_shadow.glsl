#version 330 core
// Depth-only pass of the synthetic-appearance renderer: the body seen from a directional light.
// Used for the key light's shadow map and for baking rest-pose ambient occlusion.

#if defined VERTEX_SHADER

uniform mat4 u_light_mvp;  // world -> light clip (orthographic)
in vec3 in_position;

void main() {
    gl_Position = u_light_mvp * vec4(in_position, 1.0);
}

#elif defined FRAGMENT_SHADER

void main() {
}

#endif
