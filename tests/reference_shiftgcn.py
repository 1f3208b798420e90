"""A transcription of the released Shift-GCN (kchengiva/Shift-GCN @ 20276b6, ``model/shift_gcn.py`` and the CUDA
extension ``model/Temporal_shift/cuda/shift_cuda_kernel.cu``), for the equivalence tests only.

The layers are the release's in its ``(N, C, T, V)`` layout, without ``device='cuda'``; the CUDA kernels are
written element by element as the kernels compute them (the bilinear taps, the bounds tests, the stride-2
backward's ``h % stride`` rule, the batch mean, the sums and the constraint on the position gradients), looping
over channels and vectorised over the other axes. Not part of the package.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


# ------------------------------------------------------------------------------------- the CUDA kernels
def _tap(data: torch.Tensor, h: torch.Tensor, w: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``data`` (N, H, W) at integer positions ``h`` (Ho, 1), ``w`` (1, Wo); 0 outside (the kernels' bounds test)."""
    ok = (h >= 0) & (w >= 0) & (h < height) & (w < width)
    hc, wc = h.clamp(0, height - 1), w.clamp(0, width - 1)
    return data[:, hc, wc] * ok


def cuda_forward(x: torch.Tensor, xpos: torch.Tensor, ypos: torch.Tensor, stride: int) -> torch.Tensor:
    """``shift_cuda_forward_kernel``: out (N, C, H // stride, W)."""
    n, c, height, width = x.shape
    top_h = height // stride
    out = torch.zeros(n, c, top_h, width, dtype=x.dtype)
    h = torch.arange(top_h)[:, None] * stride  # h_offset
    w = torch.arange(width)[None, :]
    for ch in range(c):
        xv, yv = float(xpos[ch]), float(ypos[ch])
        x1, y1 = math.floor(xv), math.floor(yv)
        x2, y2 = x1 + 1, y1 + 1
        d = x[:, ch]
        q11 = _tap(d, h + y1, w + x1, height, width)
        q21 = _tap(d, h + y1, w + x2, height, width)
        q12 = _tap(d, h + y2, w + x1, height, width)
        q22 = _tap(d, h + y2, w + x2, height, width)
        dx, dy = xv - x1, yv - y1
        out[:, ch] = q11 * (1 - dx) * (1 - dy) + q21 * dx * (1 - dy) + q12 * (1 - dx) * dy + q22 * dx * dy
    return out


def cuda_backward(grad_out: torch.Tensor, x: torch.Tensor, xpos: torch.Tensor, ypos: torch.Tensor, stride: int
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``shift_cuda_backward``: grad_input (Shift_Bottom_Backward[_Stride1]), grad_xpos and grad_ypos
    (Shift_Position_Backward, mean over the batch, sums over H and W, applyShiftConstraint)."""
    n, c, height, width = x.shape
    top_h = height // stride
    grad_in = torch.zeros_like(x)
    hb = torch.arange(height)[:, None]
    wb = torch.arange(width)[None, :]
    for ch in range(c):
        xv, yv = -float(xpos[ch]), -float(ypos[ch])  # reverse position
        x1, y1 = math.floor(xv), math.floor(yv)
        dx, dy = xv - x1, yv - y1
        g = grad_out[:, ch]
        taps = []
        for hh, ww in ((y1, x1), (y1, x1 + 1), (y1 + 1, x1), (y1 + 1, x1 + 1)):
            h_im, w_im = hb + hh, wb + ww
            if stride == 1:
                taps.append(_tap(g, h_im, w_im, height, width))
            else:  # stride 2: only taps landing on an output row, at h_im / 2 (exact: h_im is even)
                even = (h_im % stride) == 0
                taps.append(_tap(g, torch.where(even, h_im // stride, -1), w_im, top_h, width))
        q11, q21, q12, q22 = taps
        grad_in[:, ch] = q11 * (1 - dx) * (1 - dy) + q21 * dx * (1 - dy) + q12 * (1 - dx) * dy + q22 * dx * dy
    grad_x = torch.zeros(c, dtype=x.dtype)
    grad_y = torch.zeros(c, dtype=x.dtype)
    h = torch.arange(top_h)[:, None] * stride
    w = torch.arange(width)[None, :]
    for ch in range(c):
        sx, sy = float(xpos[ch]), float(ypos[ch])
        ix1, iy1 = math.floor(sx), math.floor(sy)
        dx, dy = sx - ix1, sy - iy1
        d = x[:, ch]
        q11 = _tap(d, h + iy1, w + ix1, height, width)
        q21 = _tap(d, h + iy1, w + ix1 + 1, height, width)
        q12 = _tap(d, h + iy1 + 1, w + ix1, height, width)
        q22 = _tap(d, h + iy1 + 1, w + ix1 + 1, height, width)
        val_x = (1 - dy) * (q21 - q11) + dy * (q22 - q12)
        val_y = (1 - dx) * (q12 - q11) + dx * (q22 - q21)
        grad_x[ch] = (val_x * grad_out[:, ch]).mean(0).sum()
        grad_y[ch] = (val_y * grad_out[:, ch]).mean(0).sum()
    # applyShiftConstraint
    dr = grad_y.abs()
    gx = torch.zeros_like(grad_x)
    gy = torch.where(dr != 0, grad_y / torch.where(dr != 0, dr, 1) * 0.01, torch.full_like(grad_y, 0.0001))
    return grad_in, gx, gy


class ShiftFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, xpos, ypos, stride=1):
        if stride != 1:
            ypos = ypos + 0.5
        out = cuda_forward(x, xpos, ypos, stride)
        ctx.save_for_backward(x, xpos, ypos)
        ctx.stride = stride
        return out

    @staticmethod
    def backward(ctx, grad_output):
        x, xpos, ypos = ctx.saved_tensors
        gi, gx, gy = cuda_backward(grad_output.contiguous(), x, xpos, ypos, ctx.stride)
        return gi, gx, gy, None


class Shift(nn.Module):
    def __init__(self, channel, stride, init_scale=3):
        super().__init__()
        self.stride = stride
        self.xpos = nn.Parameter(torch.zeros(channel))
        self.ypos = nn.Parameter(torch.zeros(channel))
        self.xpos.data.uniform_(-1e-8, 1e-8)
        self.ypos.data.uniform_(-init_scale, init_scale)

    def forward(self, x):
        return ShiftFunction.apply(x, self.xpos, self.ypos, self.stride)


# ------------------------------------------------------------------------------------- model/shift_gcn.py
def conv_init(conv):
    nn.init.kaiming_normal_(conv.weight, mode="fan_out")
    nn.init.constant_(conv.bias, 0)


def bn_init(bn, scale):
    nn.init.constant_(bn.weight, scale)
    nn.init.constant_(bn.bias, 0)


class tcn(nn.Module):  # noqa: N801  (the release's names)
    def __init__(self, in_channels, out_channels, kernel_size=9, stride=1):
        super().__init__()
        pad = int((kernel_size - 1) / 2)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=(kernel_size, 1), padding=(pad, 0),
                              stride=(stride, 1))
        self.bn = nn.BatchNorm2d(out_channels)
        conv_init(self.conv)
        bn_init(self.bn, 1)

    def forward(self, x):
        return self.bn(self.conv(x))


class Shift_tcn(nn.Module):  # noqa: N801
    def __init__(self, in_channels, out_channels, kernel_size=9, stride=1):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels)
        self.bn2 = nn.BatchNorm2d(in_channels)
        bn_init(self.bn2, 1)
        self.relu = nn.ReLU(inplace=True)
        self.shift_in = Shift(channel=in_channels, stride=1, init_scale=1)
        self.shift_out = Shift(channel=out_channels, stride=stride, init_scale=1)
        self.temporal_linear = nn.Conv2d(in_channels, out_channels, 1)
        nn.init.kaiming_normal_(self.temporal_linear.weight, mode="fan_out")

    def forward(self, x):
        x = self.bn(x)
        x = self.shift_in(x)
        x = self.temporal_linear(x)
        x = self.relu(x)
        x = self.shift_out(x)
        x = self.bn2(x)
        return x


class Shift_gcn(nn.Module):  # noqa: N801
    def __init__(self, in_channels, out_channels, A=None, coff_embedding=4, num_subset=3, num_point=25):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        if in_channels != out_channels:
            self.down = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels))
        else:
            self.down = lambda x: x
        self.Linear_weight = nn.Parameter(torch.zeros(in_channels, out_channels))
        nn.init.normal_(self.Linear_weight, 0, math.sqrt(1.0 / out_channels))
        self.Linear_bias = nn.Parameter(torch.zeros(1, 1, out_channels))
        self.Feature_Mask = nn.Parameter(torch.ones(1, num_point, in_channels))
        nn.init.constant_(self.Feature_Mask, 0)
        self.bn = nn.BatchNorm1d(num_point * out_channels)
        self.relu = nn.ReLU()
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                conv_init(m)
            elif isinstance(m, nn.BatchNorm2d):
                bn_init(m, 1)
        index_array = np.zeros(num_point * in_channels, dtype=np.int64)
        for i in range(num_point):
            for j in range(in_channels):
                index_array[i * in_channels + j] = (i * in_channels + j + j * in_channels) % (in_channels * num_point)
        self.shift_in = nn.Parameter(torch.from_numpy(index_array), requires_grad=False)
        index_array = np.zeros(num_point * out_channels, dtype=np.int64)
        for i in range(num_point):
            for j in range(out_channels):
                index_array[i * out_channels + j] = ((i * out_channels + j - j * out_channels)
                                                     % (out_channels * num_point))
        self.shift_out = nn.Parameter(torch.from_numpy(index_array), requires_grad=False)

    def forward(self, x0):
        n, c, t, v = x0.size()
        x = x0.permute(0, 2, 3, 1).contiguous()
        x = x.view(n * t, v * c)
        x = torch.index_select(x, 1, self.shift_in)
        x = x.view(n * t, v, c)
        x = x * (torch.tanh(self.Feature_Mask) + 1)
        x = torch.einsum("nwc,cd->nwd", (x, self.Linear_weight)).contiguous()
        x = x + self.Linear_bias
        x = x.view(n * t, -1)
        x = torch.index_select(x, 1, self.shift_out)
        x = self.bn(x)
        x = x.view(n, t, v, self.out_channels).permute(0, 3, 1, 2)
        x = x + self.down(x0)
        x = self.relu(x)
        return x


class TCN_GCN_unit(nn.Module):  # noqa: N801
    def __init__(self, in_channels, out_channels, A=None, stride=1, residual=True, num_point=25):
        super().__init__()
        self.gcn1 = Shift_gcn(in_channels, out_channels, A, num_point=num_point)
        self.tcn1 = Shift_tcn(out_channels, out_channels, stride=stride)
        self.relu = nn.ReLU()
        if not residual:
            self.residual = lambda x: 0
        elif (in_channels == out_channels) and (stride == 1):
            self.residual = lambda x: x
        else:
            self.residual = tcn(in_channels, out_channels, kernel_size=1, stride=stride)

    def forward(self, x):
        x = self.tcn1(self.gcn1(x)) + self.residual(x)
        return self.relu(x)


class Model(nn.Module):
    def __init__(self, num_class=60, num_point=25, num_person=2, in_channels=3):
        super().__init__()
        self.data_bn = nn.BatchNorm1d(num_person * in_channels * num_point)
        p = dict(num_point=num_point)
        self.l1 = TCN_GCN_unit(3, 64, residual=False, **p)
        self.l2 = TCN_GCN_unit(64, 64, **p)
        self.l3 = TCN_GCN_unit(64, 64, **p)
        self.l4 = TCN_GCN_unit(64, 64, **p)
        self.l5 = TCN_GCN_unit(64, 128, stride=2, **p)
        self.l6 = TCN_GCN_unit(128, 128, **p)
        self.l7 = TCN_GCN_unit(128, 128, **p)
        self.l8 = TCN_GCN_unit(128, 256, stride=2, **p)
        self.l9 = TCN_GCN_unit(256, 256, **p)
        self.l10 = TCN_GCN_unit(256, 256, **p)
        self.fc = nn.Linear(256, num_class)
        nn.init.normal_(self.fc.weight, 0, math.sqrt(2.0 / num_class))
        bn_init(self.data_bn, 1)

    def forward(self, x):
        N, C, T, V, M = x.size()
        x = x.permute(0, 4, 3, 1, 2).contiguous().view(N, M * V * C, T)
        x = self.data_bn(x)
        x = x.view(N, M, V, C, T).permute(0, 1, 3, 4, 2).contiguous().view(N * M, C, T, V)
        for k in range(1, 11):
            x = getattr(self, f"l{k}")(x)
        c_new = x.size(1)
        x = x.view(N, M, c_new, -1)
        x = x.mean(3).mean(1)
        return self.fc(x)
