"""Deployment: exports (ONNX, TorchScript), video inference and streaming."""
from .export import PARTS, ExportResult, export_onnx, export_torchscript, onnx_session, select_part

__all__ = ["PARTS", "ExportResult", "export_onnx", "export_torchscript", "onnx_session", "select_part"]
