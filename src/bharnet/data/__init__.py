"""Skeleton data as the models see it: the in-memory :class:`Sample`, the file formats (Kinect ``.skeleton``
files ``kinect``, hand and body files ``hands`` / ``pose``, ST-ROI images ``roi``), the memory-mapped dataset
store (``store``), and the one feeder pipeline shared by training, evaluation and ``predict`` (``feeder``,
``transforms``). The benchmarks' readers and conversions are in :mod:`bharnet.datasets`.

>>> from bharnet.data import DatasetStore, SkeletonDataset
>>> ds = SkeletonDataset("ntu60.store", protocol="xsub", split="train", streams=("body", "hand"))  # doctest: +SKIP
"""
from . import kinect, transforms
from .feeder import SkeletonDataset
from .sample import DataFormatError, Sample
from .store import DatasetStore, StoreError, StoreWriter, write_store

__all__ = ["kinect", "transforms", "SkeletonDataset", "DataFormatError", "Sample", "DatasetStore", "StoreError",
           "StoreWriter", "write_store"]
