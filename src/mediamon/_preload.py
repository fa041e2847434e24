"""Imported once by the extraction pool's forkserver: workers fork from a process that has already
loaded trafilatura, OpenCC and jieba's dictionary (about 2 s each otherwise, per worker, per run)."""

from .workers import _warm_libraries

_warm_libraries()
