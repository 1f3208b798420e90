"""GPU check of the model zoo (not a test): every registered model at the paper's size on CUDA.

For each model: CUDA logits against the CPU's on the same weights and input (max abs difference, with cuDNN's
default TF32 convolutions and with TF32 off),
a training step under fp16 autocast with a gradient scaler (finite loss and gradients), and the training
throughput (samples/s) at batch 64 in fp16 autocast and fp32, after warm-up, timed with CUDA events.

    python benchmarks/bench_gpu.py            # needs a CUDA device; prints one line per model
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import bharnet  # noqa: E402

MODELS = ["expert", "score_fusion", "joint_training", "cross_attention", "fast_attention", "bharnet_p", "bharnet_e"]


def inputs(model, batch: int, device: str):
    from bharnet.models.inputs import example_inputs

    g = torch.Generator().manual_seed(0)
    return tuple(torch.randn(x.shape, generator=g).to(device) for x in example_inputs(model, batch))


def step_time(model, batch: int, amp: bool, steps: int = 10) -> float:
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = bharnet.BHaRNetLoss()
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    x = inputs(model, batch, "cuda")
    y = torch.randint(0, 120, (batch,), device="cuda")
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for i in range(steps + 3):
        if i == 3:
            torch.cuda.synchronize()
            start.record()
        with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
            loss = loss_fn(model(*x), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    end.record()
    torch.cuda.synchronize()
    if not torch.isfinite(loss):
        raise FloatingPointError("non-finite loss")
    return batch * steps / (start.elapsed_time(end) / 1000)


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device")
        return 1
    torch.backends.cudnn.benchmark = True
    print(f"{torch.cuda.get_device_name()} | torch {torch.__version__}")
    print("max |logit difference| CUDA vs CPU, same weights and input, with cuDNN's default TF32 and with TF32 off;")
    print("training samples/s at batch 64 (torch defaults: TF32 convolutions), fp16 autocast and fp32")
    print(f"{'model':16s} {'max|logit|':>10s} {'diff TF32':>10s} {'diff fp32':>10s} {'fp16 train/s':>13s} "
          f"{'fp32 train/s':>13s}")
    for name in MODELS:
        torch.manual_seed(0)
        model = bharnet.create_model(name, num_classes=120).eval()
        gpu = copy.deepcopy(model).cuda().eval()
        with torch.no_grad():
            cpu_out = model(*inputs(model, 4, "cpu")).logits
            diffs = []
            for tf32 in (True, False):  # cuDNN convolutions run in TF32 by default
                torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
                gpu_out = gpu(*inputs(gpu, 4, "cuda")).logits.cpu()
                diffs.append((cpu_out - gpu_out).abs().max().item())
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = True, False  # torch defaults
        scale = cpu_out.abs().max().item()
        fp16 = step_time(gpu, 64, amp=True)
        fp32 = step_time(gpu, 64, amp=False)
        print(f"{name:16s} {scale:10.2f} {diffs[0]:10.2e} {diffs[1]:10.2e} {fp16:13.0f} {fp32:13.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
