"""Datasets: raw readers (``ntu``, ``ucla``, ``pku``), pyskl/mmaction2 pickles (``pyskl``), MediaPipe hand
extraction (``hands``), the memory-mapped dataset store (``store``), conversions (``prepare``), the
feeder and its transforms (``feeder``, ``transforms``) and a visual check (``show``).

>>> from bharnet.data import ntu, DatasetStore, SkeletonDataset
>>> seq = ntu.read_skeleton("S001C001P001R001A001.skeleton")          # doctest: +SKIP
>>> ds = SkeletonDataset("ntu60.store", protocol="xsub", split="train", streams=("body", "hand"))  # doctest: +SKIP
"""
from . import ntu, pku, pyskl, transforms, ucla
from .feeder import SkeletonDataset
from .sample import DataFormatError, Sample
from .store import DatasetStore, StoreError, StoreWriter, write_store

__all__ = ["ntu", "pku", "pyskl", "transforms", "ucla", "SkeletonDataset", "DataFormatError", "Sample",
           "DatasetStore", "StoreError", "StoreWriter", "write_store"]
