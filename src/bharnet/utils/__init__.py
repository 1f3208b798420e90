"""Small utilities."""
from .cpu import configure_malloc

__all__ = ["configure_malloc"]
