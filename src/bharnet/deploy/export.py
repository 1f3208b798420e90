"""Deployment exports: ONNX (checked against PyTorch with onnxruntime) and TorchScript.

What can be exported (``part``):

* ``full`` - the model as trained: a single expert, score fusion, BHaRNet-E/P, ...;
* ``light`` - BHaRNet-E's expert-only model (two backbones + the two expert heads, no attention);
* ``body`` / ``hand`` - one expert taken out of a score-fusion or BHaRNet-E model.

The exported graph takes ``body`` and ``hand`` ``(N, C, T, V, M)`` float32 inputs (a single expert takes
the one its stream names) and returns ``logits`` ``(N, num_classes)`` followed by one output per branch
(``logits_body_expert``, ``logits_hand_interactive``, ...), so a deployment can show the per-branch evidence too. The
batch axis is dynamic; T, V and M are fixed by the model (DeGCN's deformable temporal sampling is built
for one input length).

Exports are made from a copy in eval mode, where FAVOR+ uses its current (frozen) random features and the
backbones do not chunk the batch, so the graph is a pure function of its inputs.
"""
from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..models.bharnet import BHaRNetE, BodyHandModel, Expert
from ..models.inputs import example_inputs, input_spec
from ..utils.files import atomic_path

__all__ = ["PARTS", "select_part", "ExportResult", "export_onnx", "export_torchscript",
           "onnx_session", "require_onnxruntime"]

PARTS = ("full", "light", "body", "hand")


def select_part(model: nn.Module, part: str = "full") -> nn.Module:
    """The module to export: ``part`` is one of :data:`PARTS` (see the module docstring)."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    if part == "full":
        return model
    if part == "light":
        if not isinstance(model, BHaRNetE):
            raise ValueError(f"part 'light' is BHaRNet-E's expert-only model; this is a {type(model).__name__}")
        return model.light()
    if isinstance(model, Expert):
        if model.stream != part:
            raise ValueError(f"this checkpoint is a single {model.stream} expert; it has no {part} part")
        return model
    if not isinstance(model, BodyHandModel):
        raise ValueError(f"cannot take a {part} expert out of a {type(model).__name__}")
    return model.expert(part)


class _TensorOutputs(nn.Module):
    """Returns ``(logits, *branches)`` as plain tensors instead of a ModelOutput."""

    def __init__(self, model: nn.Module, branch_names: list[str]) -> None:
        super().__init__()
        self.model, self.branch_names = model, branch_names

    def forward(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        out = self.model(*inputs)
        return (out.logits, *(out.branches[name] for name in self.branch_names))


def _prepared(model: nn.Module) -> nn.Module:
    """An eval-mode copy whose backbones process the whole batch at once (no data-dependent chunking)."""
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        if hasattr(module, "eval_chunk"):
            module.eval_chunk = 0
    return model


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _wrap(model: nn.Module) -> tuple[_TensorOutputs, list[str]]:
    with torch.no_grad():
        names = list(model(*example_inputs(model, 1, _seeded(0))).branches)
    return _TensorOutputs(model, names).eval(), names


@dataclass
class ExportResult:
    """What was written and how close it is to PyTorch.

    Attributes:
        path: the exported file.
        inputs: input name -> full shape with ``N`` for the batch.
        outputs: output names (``logits`` first).
        max_abs_diff: output name -> max |exported - PyTorch| on the check input (empty if not checked).
        check_batch: batch size of the check (different from the export's, to exercise the dynamic axis).
        seconds: time taken by the export.
    """

    path: Path
    inputs: dict[str, tuple]
    outputs: list[str]
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    check_batch: int = 0
    seconds: float = 0.0
    logit_scale: float = 0.0  # max |PyTorch logit| on the check input, for the differences' scale

    def format(self) -> str:
        shapes = ", ".join(f"{k} {tuple(v)}" for k, v in self.inputs.items())
        lines = [f"wrote {self.path} ({self.path.stat().st_size / 1e6:.1f} MB) in {self.seconds:.1f} s",
                 f"  inputs:  {shapes}", f"  outputs: {', '.join(self.outputs)}"]
        if self.max_abs_diff:
            diffs = ", ".join(f"{k} {v:.2e}" for k, v in self.max_abs_diff.items())
            lines.append(f"  check (batch {self.check_batch}, random input; |logits| up to {self.logit_scale:.3g}), "
                         f"max |exported - PyTorch|: {diffs}")
        return "\n".join(lines)


def require_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise ImportError("checking or running ONNX models needs onnxruntime: pip install 'bharnet[deploy]'") from None
    return onnxruntime


def onnx_session(path: str | Path, threads: int | None = None):
    """An onnxruntime CPU session for an exported model (``threads``: intra-op threads, default all)."""
    ort = require_onnxruntime()
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such ONNX file")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise ValueError(f"{path}: not a readable ONNX model ({str(e).splitlines()[0][:200]})") from None


@dataclass
class _Export:
    """What both exporters share: the traced wrapper, its input/output names and the check's reference."""

    path: Path
    specs: dict[str, tuple[int, ...]]
    wrapper: _TensorOutputs
    outputs: list[str]
    example: tuple[Tensor, ...]  # the tracing input
    check_inputs: tuple[Tensor, ...]  # another batch size, to exercise the dynamic axis
    reference: tuple[Tensor, ...]
    start: float = field(default_factory=time.perf_counter)

    @classmethod
    def of(cls, model: nn.Module, path: str | Path, batch_size: int, check_batch: int, seed: int) -> _Export:
        path = Path(path)
        specs = input_spec(model)
        wrapper, branches = _wrap(_prepared(model))
        check_inputs = example_inputs(model, check_batch, _seeded(seed + 1))
        # The reference comes first: tracing may touch the module's state (batch-norm buffers).
        with torch.no_grad():
            reference = wrapper(*check_inputs)
        return cls(path, specs, wrapper, ["logits", *(f"logits_{b}" for b in branches)],
                   example_inputs(model, batch_size, _seeded(seed)), check_inputs, reference)

    def result(self, got: list | None) -> ExportResult:
        """Compare ``got`` (the exported file's outputs) with PyTorch."""
        result = ExportResult(self.path, {k: ("N", *v) for k, v in self.specs.items()}, self.outputs,
                              seconds=time.perf_counter() - self.start)
        if got is not None:
            result.max_abs_diff = {n: float(np.abs(np.asarray(g, np.float64) - r.double().numpy()).max())
                                   for n, r, g in zip(self.outputs, self.reference, got)}
            result.check_batch = len(self.check_inputs[0])
            result.logit_scale = float(self.reference[0].abs().max())
        return result


def export_onnx(model: nn.Module, path: str | Path, *, opset: int = 17, check: bool = True, batch_size: int = 2,
                check_batch: int = 3, seed: int = 0, metadata: dict[str, str] | None = None) -> ExportResult:
    """Export ``model`` (a bharnet model; see :func:`select_part`) to ONNX with a dynamic batch axis.

    With ``check`` the file is run with onnxruntime on a random input of batch ``check_batch`` and
    compared with PyTorch output by output. ``metadata`` goes into the file's metadata properties (needs
    the ``onnx`` package); ``bharnet predict`` reads its ``bharnet_spec`` entry.
    """
    job = _Export.of(model, path, batch_size, check_batch, seed)
    axes = {name: {0: "batch"} for name in [*job.specs, *job.outputs]}
    got = None
    with atomic_path(job.path) as tmp:  # the file takes its name only once it is complete (and checked)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation notice
            torch.onnx.export(job.wrapper, job.example, str(tmp), input_names=list(job.specs),
                              output_names=job.outputs, dynamic_axes=axes, opset_version=opset, dynamo=False)
        if metadata:
            _add_metadata(tmp, metadata)
        if check:
            session = onnx_session(tmp)
            got = session.run(job.outputs, {name: x.numpy() for name, x in zip(job.specs, job.check_inputs)})
    return job.result(got)


def _add_metadata(path: Path, metadata: dict[str, str]) -> None:
    try:
        import onnx
    except ImportError:
        raise ImportError("writing ONNX metadata needs the onnx package: pip install 'bharnet[deploy]'") from None
    proto = onnx.load(str(path))
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


def export_torchscript(model: nn.Module, path: str | Path, *, check: bool = True, batch_size: int = 2,
                       check_batch: int = 3, seed: int = 0) -> ExportResult:
    """Trace ``model`` to TorchScript (``torch.jit.load`` runs it without bharnet installed).

    Note: loading a TorchScript file runs the code it holds; share such files only with people who trust
    their origin (bharnet's own checkpoints never execute code)."""
    job = _Export.of(model, path, batch_size, check_batch, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(job.wrapper, job.example, check_trace=False)
    got = None
    with atomic_path(job.path) as tmp:
        traced.save(str(tmp))
        if check:
            with torch.no_grad():
                got = [g.numpy() for g in torch.jit.load(str(tmp))(*job.check_inputs)]
    return job.result(got)
