"""BHaRNet-M's training images as stored: one ST-ROI image per sample of a store, in ``<store>/roi/``::

    images.npy   (N, 225, 225, 3) uint8, in store order (a memory-mapped .npy)
    done.npy     (N,) bool: images written so far (a rerun continues from here)
    info.json    the store's sample count and names' digest; written when every image is done

They are made from the samples' RGB videos by ``bharnet data extract-roi`` (:mod:`bharnet.video.roi`);
:class:`bharnet.data.feeder.SkeletonDataset` serves them as the ``roi`` stream (:func:`load_roi`).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .sample import DataFormatError
from .store import DatasetStore

__all__ = ["load_roi", "names_digest", "SIZE"]

SIZE = 225


def names_digest(names) -> str:
    """A short digest of a store's sample names: the images belong to this version of the store."""
    return hashlib.sha256("\n".join(str(n) for n in names).encode()).hexdigest()[:16]


def load_roi(store: DatasetStore) -> np.ndarray:
    """The store's ST-ROI images ``(N, 225, 225, 3)`` uint8 (memory-mapped), checked against the store."""
    folder = Path(store.path) / "roi"
    info_path = folder / "info.json"
    if not info_path.is_file():
        raise DataFormatError(folder, "no complete ST-ROI images for this store; run `bharnet data extract-roi "
                              f"{store.path} --videos <folder>` (a rerun finishes an interrupted one)")
    info = json.loads(info_path.read_text())
    if info.get("samples") != len(store) or info.get("names") != names_digest(store.names):
        raise DataFormatError(folder, "the ST-ROI images were made for another version of this store; delete the "
                              "roi folder and run extract-roi again")
    return np.load(folder / "images.npy", mmap_mode="r", allow_pickle=False)
