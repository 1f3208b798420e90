"""Parameters and multiply-accumulates, in the paper's convention and in full.

Two conventions (both in MACs, reported as "GFLOPs" the way the skeleton literature does):

* **paper** — what ``thop`` 0.1.1 reports for the reference implementation, which is how the
  BHaRNet and DeGCN papers priced their models: only Conv, Linear, BatchNorm and LayerNorm layers
  count (a norm layer costs 2 ops per element, 4 with an affine transform); graph aggregations,
  matrix products inside attention, activations and pooling count 0; parameters are those of
  the leaf layers that ran (raw parameters such as the adjacency ``A``, CTR-GC's ``alpha`` and
  DeGCN's temporal offsets are not counted).
* **full** — every multiply-add of convolutions, linear layers and matrix products (graph
  aggregation, attention), no norm/elementwise work, and the true parameter count. This is
  ``torch.utils.flop_counter.FlopCounterMode`` / 2 on the reference implementations.

Both are computed with forward hooks. Modules whose arithmetic is not a standard layer call
(e.g. the deformable temporal convolution, computed as an equivalent convolution) declare the
reference computation's cost through a ``cost(inputs, output)`` method, so the counts describe the
model, not the kernels chosen to run it.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from .models.inputs import example_inputs
from .models.layers import Cost, batch_norm_folding

__all__ = ["Profile", "profile_model", "PAPER_ROWS", "paper_table", "format_table"]


def _conv(m: nn.Module, x: Tensor, y: Tensor) -> Cost:
    macs = y.numel() * (m.in_channels // m.groups) * int(torch.tensor(m.kernel_size).prod())
    return Cost(macs, macs, sum(p.numel() for p in m.parameters()))


def _linear(m: nn.Module, x: Tensor, y: Tensor) -> Cost:
    macs = y.numel() * m.in_features
    return Cost(macs, macs, sum(p.numel() for p in m.parameters()))


def _norm(m: nn.Module, x: Tensor, y: Tensor) -> Cost:
    affine = getattr(m, "affine", False) or getattr(m, "elementwise_affine", False)
    return Cost(2 * x.numel() * (2 if affine else 1), 0, sum(p.numel() for p in m.parameters()))


def _free(m: nn.Module, x: Tensor, y: Tensor) -> Cost:
    return Cost(0, 0, sum(p.numel() for p in m.parameters()))


# thop 0.1.1 matches on the exact type, not subclasses; so does this table
_RULES: dict[type, Callable[[nn.Module, Tensor, Tensor], Cost]] = {
    nn.Conv1d: _conv, nn.Conv2d: _conv, nn.Conv3d: _conv, nn.Linear: _linear,
    nn.BatchNorm1d: _norm, nn.BatchNorm2d: _norm, nn.BatchNorm3d: _norm, nn.LayerNorm: _norm,
    nn.ReLU: _free, nn.LeakyReLU: _free, nn.MaxPool2d: _free, nn.Dropout: _free,
}


@dataclass
class Profile:
    """Costs of one forward pass of a single sample (batch 1)."""

    paper_gmacs: float
    paper_params_m: float
    full_gmacs: float
    params_m: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def profile_model(model: nn.Module, inputs: Sequence[Tensor] | None = None) -> Profile:
    """Count parameters and MACs of ``model(*inputs)`` (default: zero inputs of batch 1).

    The model runs once in eval mode under ``torch.no_grad``; its training mode is restored.
    MACs are divided by the batch size, so they are per sample.
    """
    inputs = tuple(inputs) if inputs is not None else example_inputs(model)
    totals = {"paper": 0.0, "full": 0.0}
    params: dict[nn.Module, int] = {}
    handles = []

    def attach(module: nn.Module) -> None:
        rule = getattr(module, "cost", None)
        if callable(rule):
            def hook(m: nn.Module, args: tuple, out: Tensor) -> None:
                c = m.cost(args, out)
                totals["paper"] += c.paper_macs
                totals["full"] += c.full_macs
                params[m] = c.paper_params
            handles.append(module.register_forward_hook(hook))
            return  # the module prices everything inside it
        fn = _RULES.get(type(module))
        if fn is not None:
            def hook(m: nn.Module, args: tuple, out: Tensor, fn=fn) -> None:
                c = fn(m, args[0], out)
                totals["paper"] += c.paper_macs
                totals["full"] += c.full_macs
                params[m] = c.paper_params
            handles.append(module.register_forward_hook(hook))
            return
        for child in module.children():
            attach(child)

    attach(model)
    was_training = model.training
    model.eval()
    try:
        # the paper prices every norm layer, so none may be folded away for this call
        with torch.no_grad(), batch_norm_folding(False):
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    n = inputs[0].shape[0]
    return Profile(paper_gmacs=totals["paper"] / n / 1e9, paper_params_m=sum(params.values()) / 1e6,
                   full_gmacs=totals["full"] / n / 1e9, params_m=sum(p.numel() for p in model.parameters()) / 1e6)


# ----------------------------------------------------------------------------- the paper's tables
@dataclass(frozen=True)
class PaperRow:
    """A cost row of the paper and the configuration that reproduces it."""

    label: str
    table: str
    gflops: float
    params_m: float
    model: str
    kwargs: dict
    copies: int = 1  # separately trained joint and bone models, ensembled
    reproducible: bool = True
    note: str = ""


_NTU120 = dict(num_classes=120, num_frames=64)
PAPER_ROWS: tuple[PaperRow, ...] = (
    PaperRow("Body-expert (1 stream)", "III", 0.83, 0.69, "expert", dict(_NTU120, stream="body")),
    PaperRow("Hand-expert (1 stream)", "III", 0.83, 0.69, "expert", dict(_NTU120, stream="hand")),
    PaperRow("DeGCN (baseline, 2 stream)", "III", 1.66, 1.37, "expert", dict(_NTU120, num_trunks=2)),
    PaperRow("Score fusion", "III", 1.66, 1.37, "score_fusion", dict(_NTU120)),
    PaperRow("Cross-Attention (standard)", "III", 1.88, 2.46, "cross_attention", dict(_NTU120), reproducible=False,
             note="the true parameter count matches 2.46 M; no token set gives 1.88 G (design notes §5.8)"),
    PaperRow("Fast Attention", "III", 2.72, 4.33, "fast_attention", dict(_NTU120), reproducible=False,
             note="GFLOPs reproduced; 4.33 M has no consistent reading (design notes §5.8)"),
    PaperRow("F.A.+PAM = BHaRNet-P (joint)", "III", 1.71, 4.53, "bharnet_p", dict(_NTU120)),
    PaperRow("F.A.+Expertized = BHaRNet-E (joint)", "III", 2.72, 2.75, "bharnet_e", dict(_NTU120)),
    PaperRow("BHaRNet-P (J+B)", "I", 3.42, 9.06, "bharnet_p", dict(_NTU120), copies=2),
    PaperRow("BHaRNet-E, all-ensemble (J+B)", "I", 5.44, 5.50, "bharnet_e", dict(_NTU120), copies=2),
    PaperRow("BHaRNet-E, expert-only (J+B)", "I", 3.32, 2.76, "bharnet_e", dict(_NTU120, expert_only=True),
             copies=2),
    PaperRow("BHaRNet-M (J+B+RGB)", "II", 7.56, 16.7, "bharnet_m", dict(_NTU120)),
)


def paper_table(rows: Sequence[PaperRow] = PAPER_ROWS, backbone: str = "degcn") -> list[dict]:
    """Profile the configuration of every paper row; returns one dict per row with both conventions."""
    from .models import create_model

    out = []
    for row in rows:
        model = create_model(row.model, backbone=backbone, **row.kwargs)
        if getattr(model, "expert_only", False):
            model = model.light()  # the deployable light model: its true parameter count is what ships
        p = profile_model(model)
        k = row.copies
        out.append(dict(label=row.label, table=row.table, paper_gflops=row.gflops, paper_params_m=row.params_m,
                        gflops=p.paper_gmacs * k, params_m=p.paper_params_m * k, full_gmacs=p.full_gmacs * k,
                        true_params_m=p.params_m * k, reproducible=row.reproducible, note=row.note,
                        model=row.model, copies=k))
    return out


def format_table(rows: list[dict]) -> str:
    """Markdown table: ours (paper convention) next to the paper, deviation, then the full convention."""
    lines = ["| row (table) | paper GFLOPs | ours | Δ | paper params M | ours | Δ | full GMACs | true params M |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        dg = 100 * (r["gflops"] / r["paper_gflops"] - 1)
        dp = 100 * (r["params_m"] / r["paper_params_m"] - 1)
        flag = "" if r["reproducible"] else " †"
        lines.append(f"| {r['label']} ({r['table']}){flag} | {r['paper_gflops']:.2f} | {r['gflops']:.4f} | "
                     f"{dg:+.2f}% | {r['paper_params_m']:.2f} | {r['params_m']:.4f} | {dp:+.2f}% | "
                     f"{r['full_gmacs']:.4f} | {r['true_params_m']:.4f} |")
    notes = [f"† {r['label']}: {r['note']}" for r in rows if not r["reproducible"]]
    return "\n".join(lines + ([""] + notes if notes else []))
