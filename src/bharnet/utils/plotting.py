"""Figures without a display: one place that imports matplotlib (an optional dependency) and writes a figure."""
from __future__ import annotations

from pathlib import Path

__all__ = ["pyplot", "save_figure"]


def pyplot(purpose: str):
    """``matplotlib.pyplot`` on the non-interactive Agg backend (so that plots work on a server).

    Raises:
        ImportError: matplotlib is missing; the message says what needs it (``purpose``) and how to install it.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(f"{purpose} needs matplotlib: pip install 'bharnet[viz]'") from None
    return plt


def save_figure(fig, out: str | Path, dpi: int = 110, rect: tuple[float, float, float, float] | None = None) -> Path:
    """Lay out ``fig`` (inside ``rect`` of the figure, when given), write it to ``out`` (its folder made) and close
    it, so that long runs do not accumulate open figures."""
    import matplotlib.pyplot as plt

    fig.tight_layout(**({"rect": rect} if rect else {}))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out
