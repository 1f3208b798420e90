"""bharnet: Body-Hand action Recognition Networks (BHaRNet) for skeleton action recognition.

>>> import bharnet, torch
>>> model = bharnet.create_model("bharnet_e", backbone="degcn", num_classes=120)
>>> body, hand = torch.randn(2, 3, 64, 25, 2), torch.randn(2, 3, 64, 25, 2)
>>> out = model(body, hand)                 # out.logits (2, 120), out.branches {...}
>>> loss = bharnet.BHaRNetLoss()(out, torch.tensor([3, 70]))
"""
from .checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from .graphs import Layout, get_layout, list_layouts
from .losses import BHaRNetLoss
from .models import ModelOutput, create_backbone, create_model, list_backbones, list_models, load_checkpoint
from .profiler import Profile, profile_model

__version__ = "0.1.0"

__all__ = ["CheckpointError", "load_checkpoint", "read_checkpoint", "save_checkpoint", "Layout", "get_layout",
           "list_layouts", "BHaRNetLoss", "ModelOutput", "create_backbone", "create_model", "list_backbones",
           "list_models", "Profile", "profile_model", "__version__"]
