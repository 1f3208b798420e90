"""Video in, skeletons out: frame reading, MediaPipe graphs kept quiet, and the tracking body + hand extractor.

* :mod:`.quiet` keeps MediaPipe's C++ log lines off the terminal (``--verbose`` lets them through);
* :mod:`.reader` decodes frames in their own thread into a bounded queue (dropping frames, and counting them,
  when the consumer falls behind a live source);
* :mod:`.tracking` is the real-time extractor: Pose tracking on the frame, Hands *tracking* on one crop
  around each person's hands, each frame's hands assigned one-to-one to the person's wrists.

The crop extractor of :mod:`bharnet.data.hands` (Hands in static mode on one crop per hand) stays available as
``extractor="crops"``; both produce the same per-frame result (:class:`FrameResult`).
"""
from .quiet import filter_native_logs, quiet_native, set_verbose
from .reader import FrameReader
from .tracking import EXTRACTORS, CropExtractor, FrameResult, HandTrack, TrackingExtractor, make_extractor

__all__ = ["filter_native_logs", "quiet_native", "set_verbose", "FrameReader", "FrameResult", "TrackingExtractor",
           "CropExtractor", "HandTrack", "make_extractor", "EXTRACTORS"]
