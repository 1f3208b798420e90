"""The ``bharnet`` command: :func:`main` builds the parser of every subcommand (:mod:`.main`), each package's
commands in its own file (:mod:`.data`, :mod:`.engine`, :mod:`.deploy`) with the shared error handling and
options in :mod:`.common`. The top layer: nothing below imports it."""
from .main import build_parser, main

__all__ = ["build_parser", "main"]
