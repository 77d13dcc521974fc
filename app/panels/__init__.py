"""The dockable panels: one function per panel, each reading and writing the :class:`AppState` only."""
