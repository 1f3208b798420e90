import torch
import torch.nn.functional as F

import bharnet
from bharnet.models import ModelOutput

Y = torch.tensor([0, 2, 1])


def _ce(x):
    return F.cross_entropy(x, Y, label_smoothing=0.1)


def test_joint_training_loss_is_the_papers():
    b, h = torch.randn(3, 4), torch.randn(3, 4)
    out = ModelOutput((b + h) / 2, {"body": b, "hand": h}, ("body", "hand"), "mean", True)
    loss = bharnet.BHaRNetLoss(lambda_body=0.5, lambda_hand=2.0, lambda_cpl=3.0)
    terms = loss.components(out, Y)
    torch.testing.assert_close(terms["total"], 0.5 * _ce(b) + 2.0 * _ce(h) + 3.0 * _ce((b + h) / 2))
    assert set(terms) == {"ce/body", "ce/hand", "cpl", "total"}


def test_expertized_loss_skips_the_expert_branches():
    br = {k: torch.randn(3, 4) for k in ("body_expert", "hand_expert", "body_interactive", "hand_interactive")}
    fused = sum(br.values())
    out = ModelOutput(fused, br, ("body_interactive", "hand_interactive"), "sum", True)
    expected = _ce(br["body_interactive"]) + _ce(br["hand_interactive"]) + _ce(fused)
    torch.testing.assert_close(bharnet.BHaRNetLoss()(out, Y), expected)


def test_score_fusion_and_expert_losses():
    b, h = torch.randn(3, 4), torch.randn(3, 4)
    out = ModelOutput((b + h) / 2, {"body": b, "hand": h}, ("body", "hand"), "mean", False)
    torch.testing.assert_close(bharnet.BHaRNetLoss()(out, Y), _ce(b) + _ce(h))
    single = ModelOutput(b, {"body": b}, ("body",))
    torch.testing.assert_close(bharnet.BHaRNetLoss(label_smoothing=0.0)(single, Y), F.cross_entropy(b, Y))


def test_noisy_or_complementary_term_is_binary_cross_entropy():
    fused = torch.randn(3, 4)
    out = ModelOutput(fused, {"body": fused}, (), "noisy_or", True)
    target = F.one_hot(Y, 4).float()
    expected = F.binary_cross_entropy_with_logits(fused, target, reduction="sum") / 3
    torch.testing.assert_close(bharnet.BHaRNetLoss(label_smoothing=0.0)(out, Y), expected)
