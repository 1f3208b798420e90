"""A direct re-implementation of the released DeGCN layers, used as the test oracle.

It follows the published computation step by step — time-second layout ``(N, C, T, V)``,
DeTGC by gathering the two neighbouring frames of every sampling position, CTR-GC with the
temporal mean taken after the projections, one 1x1 convolution per temporal branch — and uses
the release's parameter names, so that :func:`bharnet.models.convert.convert_degcn_state_dict`
is exercised too. Slow on purpose: clarity over speed.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bharnet.graphs import NTU_RGBD, Layout


class PointWise(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, stride=(stride, 1), groups=groups)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(x))


class STGC(nn.Module):
    def __init__(self, cin: int, cout: int, A: torch.Tensor) -> None:
        super().__init__()
        self.A = nn.Parameter(A.clone())
        self.conv = nn.Conv2d(cin, cout * A.shape[0], 1)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        n, _, t, v = x.shape
        h = self.conv(x).view(n, self.A.shape[0], -1, t, v)
        return self.bn(torch.einsum("kvu,nkctu->nctv", self.A, h))


class CTRGC(nn.Module):
    def __init__(self, cin: int, cout: int, A: torch.Tensor, groups: int) -> None:
        super().__init__()
        k = A.shape[0]
        rel = cin // 8 if cin != 3 else 8
        self.k, self.g = k, groups
        self.A = nn.Parameter(A.clone())
        self.conv1 = nn.Conv2d(cin, rel * k, 1, groups=groups)
        self.conv2 = nn.Conv2d(cin, rel * k, 1, groups=groups)
        self.conv3 = nn.Conv2d(cin, cout * k, 1, groups=groups)
        self.conv4 = nn.Conv2d(rel * k, cout * k, 1, groups=groups * k)
        self.alpha = nn.Parameter(torch.zeros(1))
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        n, _, t, v = x.shape
        q, kk = self.conv1(x).mean(-2), self.conv2(x).mean(-2)
        val = self.conv3(x).view(n, self.g, self.k, -1, t, v)
        w = self.conv4(torch.tanh(q.unsqueeze(-1) - kk.unsqueeze(-2))).view(n, self.g, self.k, -1, v, v)
        w = w * self.alpha + self.A.view(1, 1, self.k, 1, v, v)
        return self.bn(torch.einsum("ngkcvu,ngkctu->ngctv", w, val).reshape(n, -1, t, v))


class DeTGC(nn.Module):
    def __init__(self, channels: int, eta: int, kernel_size: int, stride: int, dilation: int, num_frames: int) -> None:
        super().__init__()
        reach = (kernel_size + (kernel_size - 1) * (dilation - 1) - 1) // 2
        self.tr = nn.Parameter(torch.linspace(-reach, reach, eta))
        self.eta, self.stride, self.T = eta, stride, num_frames
        self.conv_out = nn.Sequential(nn.Conv3d(channels, channels, (eta, 1, 1)), nn.BatchNorm3d(channels))

    def forward(self, x):
        n, c, t, v = x.shape
        t0 = torch.arange(0, t, self.stride, dtype=x.dtype)
        pos = (t0[None, :] + self.tr[:, None]).reshape(1, 1, -1, 1)  # (1, 1, eta*T_out, 1)
        lo = pos.detach().floor()
        hi = lo + 1
        i1 = lo.clamp(0, self.T - 1).long().expand(n, c, -1, v)
        i2 = hi.clamp(0, self.T - 1).long().expand(n, c, -1, v)
        a = hi - pos
        y = x.gather(2, i1) * a + x.gather(2, i2) * (1 - a)
        return self.conv_out(y.view(n, c, self.eta, -1, v)).squeeze(2)


class MultiScale(nn.Module):
    def __init__(self, channels: int, eta: int, stride: int, num_frames: int) -> None:
        super().__init__()
        c = channels // 4
        act = nn.LeakyReLU(0.1)
        self.tcn1 = nn.Sequential(PointWise(channels, c), act, DeTGC(c, eta, 5, stride, 1, num_frames))
        self.tcn2 = nn.Sequential(PointWise(channels, c), act, DeTGC(c, eta, 5, stride, 2, num_frames))
        self.maxpool3x1 = nn.Sequential(PointWise(channels, c), act, nn.MaxPool2d((3, 1), (stride, 1), (1, 0)),
                                        nn.BatchNorm2d(c))
        self.conv1x1 = PointWise(channels, c, stride)

    def forward(self, x):
        return torch.cat([self.tcn1(x), self.tcn2(x), self.maxpool3x1(x), self.conv1x1(x)], 1)


class Zero(nn.Module):
    def forward(self, x):
        return 0


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, A: torch.Tensor, eta: int, stride: int, num_frames: int,
                 residual: bool) -> None:
        super().__init__()
        groups = 4 if cin != 3 else 1
        self.gcn = STGC(cin, cout, A) if cin == 3 else CTRGC(cin, cout, A, groups)
        self.tcn = MultiScale(cout, eta, stride, num_frames)
        self.residual1 = nn.Identity() if cin == cout else PointWise(cin, cout, groups=groups)
        if not residual:
            self.residual2 = Zero()
        elif cin == cout and stride == 1:
            self.residual2 = nn.Identity()
        else:
            self.residual2 = PointWise(cin, cout, stride, groups)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv3d)):
                nn.init.kaiming_normal_(m.weight, a=0.1, mode="fan_out", nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)

    def forward(self, x):
        y = F.leaky_relu(self.gcn(x) + self.residual1(x), 0.1)
        return F.leaky_relu(self.tcn(y) + self.residual2(x), 0.1)


class ReferenceDeGCN(nn.Module):
    """Single- or multi-stream DeGCN ``Model``; returns the list of per-stream logits."""

    def __init__(self, num_classes: int = 60, layout: Layout = NTU_RGBD, num_persons: int = 2, eta: int = 4,
                 num_stream: int = 1, in_channels: int = 3, base: int = 64, num_frames: int = 64) -> None:
        super().__init__()
        A = torch.from_numpy(layout.adjacency("spatial"))
        v = layout.num_joints
        self.data_bn = nn.BatchNorm1d(num_persons * in_channels * v)
        args = [(in_channels, base, 1, False, num_frames), (base, base, 1, True, num_frames),
                (base, base, 1, True, num_frames), (base, base, 1, True, num_frames),
                (base, 2 * base, 2, True, num_frames), (2 * base, 2 * base, 1, True, num_frames // 2),
                (2 * base, 2 * base, 1, True, num_frames // 2), (2 * base, 4 * base, 2, True, num_frames // 2),
                (4 * base, 4 * base, 1, True, num_frames // 4), (4 * base, 4 * base, 1, True, num_frames // 4)]

        def trunk():
            s = nn.Sequential()
            for i, (ci, co, st, res, nf) in enumerate(args):
                s.add_module(f"block-{i}_tcngcn", BasicBlock(ci, co, A, eta, st, nf, res))
            return s
        self.streams = nn.ModuleList(trunk() for _ in range(num_stream))
        self.fc = nn.ModuleList(nn.Linear(4 * base, num_classes) for _ in range(num_stream))

    def forward(self, x):
        n, c, t, v, m = x.shape
        x = self.data_bn(x.permute(0, 4, 3, 1, 2).reshape(n, m * v * c, t))
        x = x.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)
        outs = []
        for stream, fc in zip(self.streams, self.fc):
            y = stream(x)
            outs.append(fc(y.view(n, m, y.shape[1], -1).mean(3).mean(1)))
        return outs
