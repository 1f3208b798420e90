"""BHaRNet-M's RGB stream ([P] §III-E, Fig. 4 right; after MMNet): the spatio-temporal ROI image, a
ResNet-18 weighted by the body-expertized branch's features, and the J + B + RGB score ensemble.

* :class:`ResNet18` (:mod:`bharnet.models.backbones.resnet`) is plain PyTorch whose ``state_dict`` keys and shapes
  are torchvision's ``resnet18``: an ImageNet weights file for torchvision loads with :func:`load_imagenet_weights`.
* the ST-ROI image it sees is data preprocessing: :func:`bharnet.data.roi.st_roi_image` (MMNet's 5 frames x 5
  body-part patches, :data:`bharnet.data.roi.ROI_JOINTS`, 225 x 225, ImageNet-normalised).
* :func:`body_part_weights` is MMNet's skeleton guidance on the guide's last feature map ``(N, M, C, T', V)``:
  L2 norm over C, min-max to [0, 255] over the batch, the person with the larger mean, per part the mean
  of its ``top_k`` largest temporal values, divided by 127; each weight scales its part's band of rows.
* :class:`BHaRNetM` ties them: a frozen BHaRNet-E joint model guides (its body backbone = the body-expertized
  branch F1), a BHaRNet-E bone model, and the RGB ResNet-18; logits ``y_joint + y_bone + y_rgb``.
  Only the RGB branch trains (``individual = ("rgb",)``), as MMNet freezes its skeleton model.

Interpretations [INT]: the parts are NTU joints (0-based) 3 head, 11 right hand, 7 left hand, 18 right
ankle, 14 left ankle, in MMNet's row order (head, the hand shown on the image's left in a mirrored Kinect
video, the other hand, then the legs in the same order); the same joints drive the patches and the weights,
so rows and weights always agree. ``top_k`` defaults to 4 of DeGCN's T' = 16 (MMNet's 15 of 75, 20 %).
The patch side is 96 pixels at a 1080-pixel frame height, scaled with the frame height.
"""
from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..data.roi import ROI_JOINTS, ROI_SIZE
from .backbones.resnet import ResNet18, load_imagenet_weights
from .bharnet import BHaRNetE  # registers bharnet_e, whose arguments bharnet_m passes on
from .output import ModelOutput
from .registry import model_info, register_model

__all__ = ["ResNet18", "load_imagenet_weights", "body_part_weights", "weight_roi", "BHaRNetM", "bharnet_m"]


def body_part_weights(features: Tensor, top_k: int = 4, joints: tuple[int, ...] = ROI_JOINTS) -> Tensor:
    """MMNet's part weights from a skeleton feature map ``(N, M, C, T', V) -> (N, len(joints))`` in [0, ~2]."""
    with torch.no_grad():
        intensity = features.float().norm(dim=2)  # (N, M, T', V)
        lo, hi = intensity.min(), intensity.max()
        intensity = (intensity - lo) / (hi - lo).clamp_min(1e-12) * 255.0
        person = intensity.mean((2, 3)).argmax(1)  # (N,)
        # a gather rather than indexing by arange(N), so that an exported graph keeps a dynamic batch
        index = person.view(-1, 1, 1, 1).expand(-1, 1, *intensity.shape[2:])
        chosen = intensity.gather(1, index).squeeze(1)  # (N, T', V)
        parts = chosen[:, :, list(joints)]  # (N, T', P)
        k = min(top_k, parts.shape[1])
        return parts.topk(k, dim=1).values.mean(1) / 127.0


def weight_roi(image: Tensor, weights: Tensor) -> Tensor:
    """Scale each part's band of rows: ``(N, 3, S, S)`` by ``(N, P)`` (P equal bands)."""
    n, _, s, _ = image.shape
    band = math.ceil(s / weights.shape[1])
    rows = weights.repeat_interleave(band, dim=1)[:, :s]  # (N, S)
    return image * rows[:, None, :, None]


class BHaRNetM(nn.Module):
    """BHaRNet-M: ``model(body, hand, roi)`` with joint-stream ``body``/``hand`` ``(N, C, T, V, M)`` and the
    ST-ROI image ``roi`` ``(N, 3, 225, 225)``; the bone stream is computed inside from the joints.

    Branches: ``joint`` (BHaRNet-E on joints, frozen, also the guide), ``bone`` (BHaRNet-E on bones, frozen)
    and ``rgb``; the logits are their sum. ``individual = ("rgb",)``: the RGB branch's own cross-entropy.

    ``freeze_skeleton=False`` fine-tunes the two BHaRNet-E models as well, through the complementary
    cross-entropy on the summed logits (they have no individual term here); the guide features stay
    detached, as the top-k part selection passes no useful gradient.
    """

    def __init__(self, joint: nn.Module, bone: nn.Module, num_classes: int, top_k: int = 4,
                 freeze_skeleton: bool = True) -> None:
        super().__init__()
        self.joint, self.bone = joint, bone
        self.rgb = ResNet18(num_classes)
        self.top_k = top_k
        self.freeze_skeleton = freeze_skeleton
        if freeze_skeleton:
            for p in [*joint.parameters(), *bone.parameters()]:
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> BHaRNetM:
        super().train(mode)
        if self.freeze_skeleton:  # frozen means eval-mode batch norm too, as MMNet's fixed skeleton net
            self.joint.eval()
            self.bone.eval()
        return self

    def load_skeleton(self, source: str | Path | Mapping[str, Tensor] | nn.Module, stream: str) -> None:
        """Load a trained BHaRNet-E (checkpoint path, state dict or module) as the ``joint`` or ``bone`` model."""
        if stream not in ("joint", "bone"):
            raise ValueError(f"stream must be 'joint' or 'bone', got {stream!r}")
        from ..checkpoint import state_dict_of

        getattr(self, stream).load_state_dict(state_dict_of(source))

    @staticmethod
    def _bones(x: Tensor, backbone: nn.Module) -> Tensor:
        """The bone stream of joint input ``(N, C, T, V, M)``, as the feeders compute it (root bone zero)."""
        parents = torch.as_tensor([p for _, p in backbone.layout.bone_pairs()], device=x.device)
        return x - x.index_select(3, parents)

    def forward(self, body: Tensor, hand: Tensor, roi: Tensor) -> ModelOutput:
        frozen = self.freeze_skeleton
        if frozen and (self.joint.training or self.bone.training):
            # Trainers may set .training flags directly (Lightning restores captured modes), bypassing train().
            self.joint.eval()
            self.bone.eval()
        with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
            fb, fh = self.joint.features(body, hand)
            y_joint = self.joint.classify(fb, fh).logits
            bones = self._bones(body, self.bone.body_backbone), self._bones(hand, self.bone.hand_backbone)
            y_bone = self.bone(*bones).logits
        y_rgb = self.rgb(weight_roi(roi, body_part_weights(fb.detach(), self.top_k)))
        branches = {"joint": y_joint, "bone": y_bone, "rgb": y_rgb}
        return ModelOutput(y_joint + y_bone + y_rgb, branches, ("rgb",), "sum", not frozen)

    def input_spec(self) -> dict[str, tuple[int, ...]]:
        """The joint model's ``body`` and ``hand``, then ``roi`` ``(3, 225, 225)``: ``model(body, hand, roi)``."""
        return {**self.joint.input_spec(), "roi": (3, ROI_SIZE, ROI_SIZE)}


@register_model("bharnet_m", "BHaRNet-M: frozen BHaRNet-E joint + bone, ResNet-18 on the ST-ROI image; "
                "model(body, hand, roi)")
def bharnet_m(top_k: int = 4, freeze_skeleton: bool = True, **bharnet_e: Any) -> BHaRNetM:
    """BHaRNet-M: two BHaRNet-E (joint, bone; frozen) and a ResNet-18 on the skeleton-weighted ST-ROI
    image; ``model(body, hand, roi)``. ``freeze_skeleton=False`` fine-tunes the BHaRNet-E models through a
    cross-entropy on the summed logits. The other arguments are ``bharnet_e``'s and go to both BHaRNet-E models."""
    build = model_info("bharnet_e").builder
    skeleton: list[BHaRNetE] = [build(**bharnet_e), build(**bharnet_e)]
    return BHaRNetM(*skeleton, bharnet_e.get("num_classes", 120), top_k, freeze_skeleton)


# create_model checks arguments against the signature: bharnet_e's, after BHaRNet-M's own two
bharnet_m.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    list(inspect.signature(bharnet_m).parameters.values())[:2]
    + [p.replace(kind=p.KEYWORD_ONLY) for p in inspect.signature(model_info("bharnet_e").builder).parameters.values()])
