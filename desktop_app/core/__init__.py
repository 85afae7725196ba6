"""The Qt-free core of Hearth. Nothing below this package imports PySide6."""
