"""The extraction processes' forkserver: one process that loads trafilatura, OpenCC, jieba and jieba-rs
once (`_preload`), from which every extraction worker forks. Kept apart from workers.py so the
command line can start it before importing anything heavy: it then loads its libraries on one core while the
flow imports on the other."""

from __future__ import annotations

import multiprocessing
from multiprocessing import forkserver
from multiprocessing.context import BaseContext

PRELOAD = ["mediamon._preload"]


def context() -> BaseContext:
    """The forkserver start method, preloading the libraries (the parent runs Prefect's threads, and forking a
    threaded process is unsafe)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def start() -> None:
    """Start the forkserver now (its preload takes 2-3 s), so workers fork from it at once later."""
    context()
    forkserver.ensure_running()
