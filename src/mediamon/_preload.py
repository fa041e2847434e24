"""Imported once by the extraction pool's forkserver: workers fork from a process that has already
loaded trafilatura, OpenCC and jieba's dictionary (about 2 s each otherwise, per worker, per run)."""

from .extract import _warm

_warm()
