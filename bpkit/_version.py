"""bpkit's version, in one place: the package root and `bpkit.saving` both read it here."""

__all__ = ["__version__"]

__version__ = "0.1.0"
