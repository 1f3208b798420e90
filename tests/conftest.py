import contextlib
import importlib
import importlib.util
import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # reference_degcn


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def perturb_(model: torch.nn.Module, scale: float = 0.05) -> torch.nn.Module:
    """Move every parameter and BN statistic off its initial value, so that equalities are not
    satisfied trivially (CTR-GC's alpha starts at 0, BN at identity)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale)
        for name, b in model.named_buffers():
            if name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)
            elif name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
    return model


def peer_root() -> Path | None:
    root = os.environ.get("BHARNET_PEER_ROOT")
    return Path(root) if root and Path(root).is_dir() else None


@contextlib.contextmanager
def peer_tree(name: str):
    """Within the block, the peer tree ``$BHARNET_PEER_ROOT/name`` is importable (skips without it). The research
    repositories all name their packages ``model`` and ``graph``: those are dropped from ``sys.modules`` before and
    after, so that two peers never see each other's."""
    root = peer_root()
    if root is None or not (root / name / "model").is_dir():
        pytest.skip(f"set BHARNET_PEER_ROOT to a folder with {name}/ (../shared/tools/peers/get_peers.sh)")

    def forget():
        for m in [m for m in sys.modules if m.split(".")[0] in ("model", "graph")]:
            del sys.modules[m]

    forget()
    sys.path.insert(0, str(root / name))
    try:
        yield root / name
    finally:
        sys.path.remove(str(root / name))
        forget()


def shared_data() -> Path | None:
    """The real-data fixtures (`../shared/data` beside the project, or $BHARNET_DATA)."""
    root = os.environ.get("BHARNET_DATA")
    path = Path(root) if root else Path(__file__).resolve().parents[2] / "shared" / "data"
    return path if path.is_dir() else None


def require_shared(*parts: str) -> Path:
    root = shared_data()
    if root is None or not root.joinpath(*parts).exists():
        pytest.skip(f"real data {'/'.join(parts)} not found (set BHARNET_DATA to the shared data folder)")
    return root.joinpath(*parts)


HAS_MEDIAPIPE = importlib.util.find_spec("mediapipe") is not None and importlib.util.find_spec("cv2") is not None
needs_mediapipe = pytest.mark.skipif(not HAS_MEDIAPIPE,
                                     reason="MediaPipe not installed (pip install 'bharnet[extract]')")
