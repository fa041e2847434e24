"""Imported once by the extraction pool's forkserver: workers fork from a process that has already
loaded trafilatura, readability, OpenCC, jieba's dictionary and tags and jieba-rs (seconds
otherwise, per worker, per run)."""

from .workers import _warm_libraries

_warm_libraries()
