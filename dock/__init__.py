"""Processing Dock's face: the `dock` command line and the Qt window (Qt is imported only by the window)."""
