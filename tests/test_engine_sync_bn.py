"""CPUSyncBatchNorm under real torch DDP on 2 gloo processes: the gradients equal one process's over the
global batch (torch's SyncBatchNorm refuses CPU tensors). In float64: in float32 the two reduction orders
differ by rounding, which ten BN layers amplify to a few percent on some gradient entries."""
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

import bharnet
from bharnet.engine.sync_bn import convert_cpu_sync_batchnorm


def make_model():
    torch.manual_seed(0)
    return bharnet.create_model("expert", backbone="degcn", num_classes=3, num_frames=16, base_channels=16,
                                num_persons=1).double()


def make_batch():
    g = torch.Generator().manual_seed(1)
    scale = torch.linspace(0.5, 2, 8, dtype=torch.float64).view(8, 1, 1, 1, 1)
    x = torch.randn(8, 3, 16, 25, 1, generator=g, dtype=torch.float64) * scale + 3
    return x, torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.set_num_threads(1)
    model = convert_cpu_sync_batchnorm(make_model())
    ddp = DistributedDataParallel(model)
    x, y = make_batch()
    loss = bharnet.BHaRNetLoss()(ddp(x[rank::2]), y[rank::2])  # rank r holds samples r, r+2, ...
    loss.backward()
    if rank == 0:
        grads = {k: p.grad for k, p in model.named_parameters() if p.grad is not None}
        buffers = {k: b for k, b in model.named_buffers() if "running" in k}
        torch.save({"grads": grads, "buffers": buffers}, out)
    dist.destroy_process_group()


def test_two_process_gradients_equal_one_process(tmp_path):
    model = make_model()
    x, y = make_batch()
    bharnet.BHaRNetLoss()(model(x), y).backward()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(port, str(tmp_path / "g.pt")), nprocs=2)
    got = torch.load(tmp_path / "g.pt", weights_only=True)
    assert len(got["grads"]) == len([p for p in model.parameters() if p.grad is not None])
    for name, p in model.named_parameters():
        if p.grad is not None:
            torch.testing.assert_close(got["grads"][name], p.grad, rtol=1e-7, atol=1e-9,
                                       msg=lambda m, name=name: f"{name}: {m}")
    buffers = dict(model.named_buffers())
    for name, value in got["buffers"].items():
        torch.testing.assert_close(value, buffers[name], rtol=1e-7, atol=1e-9, msg=name)
