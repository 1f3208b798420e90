"""Models: graph layouts live in :mod:`bharnet.graphs`; here are the backbones, attention, and the
BHaRNet assemblies, all built through :func:`create_model`."""
from .attention import BidirectionalCrossAttention, CrossAttention, FavorKernel, SoftmaxKernel
from .backbones import GCNBackbone, create_backbone, list_backbones
from .bharnet import BHaRNetE, BHaRNetP, CrossAttentionNet, DualStream, Expert
from .heads import Classifier, fuse_logits
from .output import ModelOutput
from .registry import create_model, list_models, load_checkpoint, model_info, register_model
from .rgb import BHaRNetM, ResNet18, load_imagenet_weights

__all__ = ["BidirectionalCrossAttention", "CrossAttention", "FavorKernel", "SoftmaxKernel", "GCNBackbone",
           "create_backbone", "list_backbones", "BHaRNetE", "BHaRNetP", "Classifier", "CrossAttentionNet",
           "DualStream", "Expert", "fuse_logits", "ModelOutput", "create_model", "load_checkpoint", "list_models",
           "model_info", "register_model", "BHaRNetM", "ResNet18", "load_imagenet_weights"]
