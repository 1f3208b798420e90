"""A transcription of the official CTR-GCN (Uason-Chen/CTR-GCN, ``model/ctrgcn.py``), for the conversion tests only.

Written in its ``(N*M, C, T, V)`` layout and with its module names, so that its ``state_dict()`` has the keys of a
released checkpoint: ``data_bn``; ``l1..l10`` with ``gcn1`` (three ``convs.{k}`` CTR-GCs, ``PA``, ``alpha``,
``down``, ``bn``), ``tcn1.branches.{0..3}`` (two dilated 5-tap branches, a max-pool branch, a strided 1x1
branch) and ``residual``; ``fc``. Eval and train mode as in the release; no initialisation schemes (the tests
perturb the weights). Not part of the package.
"""
from __future__ import annotations

import torch
from torch import nn

from bharnet.graphs import get_layout


class CTRGC(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        rel = 8 if cin in (3, 9) else cin // 8
        self.conv1, self.conv2 = nn.Conv2d(cin, rel, 1), nn.Conv2d(cin, rel, 1)
        self.conv3, self.conv4 = nn.Conv2d(cin, cout, 1), nn.Conv2d(rel, cout, 1)

    def forward(self, x, A, alpha):  # (B, C, T, V)
        q, k = self.conv1(x).mean(-2), self.conv2(x).mean(-2)  # (B, R, V)
        topology = self.conv4(torch.tanh(q.unsqueeze(-1) - k.unsqueeze(-2))) * alpha + A[None, None]  # (B, C, V, V)
        return torch.einsum("ncuv,nctv->nctu", topology, self.conv3(x))


class GraphUnit(nn.Module):
    def __init__(self, cin: int, cout: int, A: torch.Tensor) -> None:
        super().__init__()
        self.convs = nn.ModuleList(CTRGC(cin, cout) for _ in range(A.shape[0]))
        self.down = nn.Sequential(nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout)) if cin != cout else None
        self.PA = nn.Parameter(A.clone())
        self.alpha = nn.Parameter(torch.zeros(1))
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        y = sum(conv(x, self.PA[i], self.alpha) for i, conv in enumerate(self.convs))
        return torch.relu(self.bn(y) + (self.down(x) if self.down is not None else x))


class Temporal(nn.Module):
    """``TemporalConv``: a ``(k, 1)`` convolution and BN under the names ``conv`` / ``bn``."""

    def __init__(self, c: int, cout: int, k: int, stride: int, dilation: int = 1) -> None:
        super().__init__()
        pad = (k + (k - 1) * (dilation - 1) - 1) // 2
        self.conv = nn.Conv2d(c, cout, (k, 1), padding=(pad, 0), stride=(stride, 1), dilation=(dilation, 1))
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(x))


class MultiScaleTemporal(nn.Module):
    def __init__(self, c: int, stride: int) -> None:
        super().__init__()
        b = c // 4

        def head():
            return [nn.Conv2d(c, b, 1), nn.BatchNorm2d(b), nn.ReLU()]

        self.branches = nn.ModuleList([
            nn.Sequential(*head(), Temporal(b, b, 5, stride, 1)),
            nn.Sequential(*head(), Temporal(b, b, 5, stride, 2)),
            nn.Sequential(*head(), nn.MaxPool2d((3, 1), (stride, 1), (1, 0)), nn.BatchNorm2d(b)),
            nn.Sequential(nn.Conv2d(c, b, 1, stride=(stride, 1)), nn.BatchNorm2d(b)),
        ])

    def forward(self, x):
        return torch.cat([branch(x) for branch in self.branches], 1)


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, A: torch.Tensor, stride: int = 1, residual: bool = True) -> None:
        super().__init__()
        self.gcn1, self.tcn1 = GraphUnit(cin, cout, A), MultiScaleTemporal(cout, stride)
        self.has_residual = residual
        self.residual = Temporal(cin, cout, 1, stride) if residual and (cin != cout or stride != 1) else None

    def forward(self, x):
        res = 0 if not self.has_residual else (self.residual(x) if self.residual is not None else x)
        return torch.relu(self.tcn1(self.gcn1(x)) + res)


class Model(nn.Module):
    def __init__(self, num_class: int = 60, num_point: int = 25, num_person: int = 2, in_channels: int = 3) -> None:
        super().__init__()
        A = torch.from_numpy(get_layout("ntu_rgbd").adjacency("spatial")).float()
        self.data_bn = nn.BatchNorm1d(num_person * in_channels * num_point)
        widths = [(in_channels, 64, 1), (64, 64, 1), (64, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 1),
                  (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 256, 1)]
        for i, (cin, cout, stride) in enumerate(widths):
            setattr(self, f"l{i + 1}", Block(cin, cout, A, stride, residual=i > 0))
        self.fc = nn.Linear(256, num_class)

    def forward(self, x):  # (N, C, T, V, M)
        n, c, t, v, m = x.shape
        x = self.data_bn(x.permute(0, 4, 3, 1, 2).reshape(n, m * v * c, t))
        x = x.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(n * m, c, t, v)
        for i in range(1, 11):
            x = getattr(self, f"l{i}")(x)
        return self.fc(x.view(n, m, x.shape[1], -1).mean(3).mean(1))
