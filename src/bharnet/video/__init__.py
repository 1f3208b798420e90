"""Video in, skeletons out (MediaPipe; the data formats they produce are :mod:`bharnet.data`).

* :mod:`.reader`: opening a video with a clear error, frames by index, and decoding in its own thread into a
  bounded queue (dropping frames, and counting them, when the consumer falls behind a live source);
* :mod:`.pose`: MediaPipe Pose tracking for one or two people, and the hand anchors it gives;
* :mod:`.hands`: where to look for the hands (Kinect or Pose guides), the crop detector, the one-to-one
  assignment of hands to the person's left / right wrist;
* :mod:`.tracking`: the per-frame extractors, ``"tracking"`` (the real-time one: Hands *tracked* on one crop
  per person, Pose beside it in a second thread) and ``"crops"`` (Hands in static mode on one crop per hand);
* :mod:`.extract`: extraction jobs, one video or whole datasets (``bharnet data extract-hands`` / ``-body``);
* :mod:`.quiet`: MediaPipe's C++ log lines kept off the terminal (``--verbose`` lets them through);
* :mod:`.runtime`: the optional MediaPipe dependency.
"""
from .quiet import filter_native_logs, quiet_native, set_verbose
from .reader import FrameReader
from .tracking import EXTRACTORS, CropExtractor, FrameResult, HandTrack, TrackingExtractor, make_extractor

__all__ = ["filter_native_logs", "quiet_native", "set_verbose", "FrameReader", "FrameResult", "TrackingExtractor",
           "CropExtractor", "HandTrack", "make_extractor", "EXTRACTORS"]
