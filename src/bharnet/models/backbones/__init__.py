"""Graph-convolution backbones: ``(N, C, T, V, M) -> (N, M, C_out, T_out, V)``."""
from . import ctrgcn, degcn, pyskl_stgcn, shiftgcn, stgcn  # noqa: F401  (registration)
from .base import GCNBackbone, create_backbone, list_backbones, register_backbone, trunk_plan

__all__ = ["GCNBackbone", "create_backbone", "list_backbones", "register_backbone", "trunk_plan"]
