"""The package version, in a module of its own so any module can read it without importing
the package (which imports nearly everything).  pyproject.toml reads it from here."""

__version__ = "0.1.0"
