"""The desktop viewer (installed as ``smplpix_viewer``): GLFW window, Dear ImGui panels, live neural rendering.

Owns: the window and its UI loop, the typed app state with undo/redo, the panels, the inference
worker thread, the viewport drawing and the recorder. Uses ``smplpix_rt`` for everything else;
the library never imports this package.
"""
