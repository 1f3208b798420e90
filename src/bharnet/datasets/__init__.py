"""The benchmarks and the user's own videos, raw files in, dataset stores out.

Raw readers (``ntu``, ``ucla``, ``pku``, and the 2s-AGCN preprocessing ``agcn``), pyskl/mmaction2 pickles
(``pyskl``), the synthetic body + hand benchmark (``synthetic``, its motion models ``kinematics``), a folder
of the user's own clips (``videos``), class names (``classes``), the conversions to a
:class:`~bharnet.data.DatasetStore` (``prepare``) and a visual check of one sample (``show``).

This layer sits above :mod:`bharnet.data` (formats, store, feeder) and :mod:`bharnet.video` (extraction,
which ``prepare`` runs on a dataset's RGB videos); nothing below imports it.

>>> from bharnet.datasets import ntu
>>> sample = ntu.to_sample(ntu.read_skeleton("S001C001P001R001A001.skeleton"))   # doctest: +SKIP
"""
from . import ntu, pku, pyskl, ucla

__all__ = ["ntu", "pku", "pyskl", "ucla"]
