"""The seed articles: carried unchanged, described by the manifest, loaded as the baseline."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from conftest import require_shared

from mediamon.seeds import load_seeds, read_manifest
from mediamon.testing import project_config

SEEDS_DIR = project_config().seeds_dir


def test_seeds_are_the_shared_files_unchanged():
    """Every file in ../shared/seeds is in seeds/ byte for byte."""
    shared = require_shared("seeds")
    for path in sorted(shared.glob("*.txt")):
        assert (SEEDS_DIR / path.name).read_bytes() == path.read_bytes(), path.name


def test_manifest_describes_every_seed():
    """The manifest lists each seed with its hash, outlet, date and script."""
    manifest = read_manifest(SEEDS_DIR)
    assert sorted(s.file for s in manifest) == sorted(p.name for p in SEEDS_DIR.glob("*.txt"))
    for seed in manifest:
        assert hashlib.sha256((SEEDS_DIR / seed.file).read_bytes()).hexdigest() == seed.sha256
        assert seed.outlet and seed.script in ("simplified", "traditional")
        assert seed.model_extra.get("date_source"), f"{seed.file}: say how the date was read or inferred"
        assert 2025 == seed.published.year and 1 <= seed.published.month <= 3


def test_detected_script_matches_the_manifest():
    """The pipeline's own script detection agrees with the manifest."""
    articles = {a.guid: a for a in load_seeds(datetime.now(UTC), SEEDS_DIR, project_config().analysis)}
    for seed in read_manifest(SEEDS_DIR):
        assert articles[seed.file].script == seed.lang, seed.file
        assert articles[seed.file].is_baseline


def test_seeds_are_labelled_as_a_reader_labels_them():
    """Every narrative the manifest's reader names is carried, and so is at least one of the frames the reader names
    for each seed (the reader's labels are in seeds/manifest.yaml; the rules were judged on real coverage, where
    the seeds' long articles argue several frames at once)."""
    articles = {a.guid: a for a in load_seeds(datetime.now(UTC), SEEDS_DIR, project_config().analysis)}
    for seed in read_manifest(SEEDS_DIR):
        labels = articles[seed.file].analysis.labels
        print(f"\n{seed.file}: manifest {seed.narratives} {seed.frames}")
        for l in labels:
            print(f"  {l.narrative}.{l.frame or '*'} {l.rule} {l.score:g}: {', '.join(l.matched[:6])}")
        assert set(seed.narratives) <= {l.narrative for l in labels if l.frame is None}, seed.file
        assert set(seed.frames) & {f"{l.narrative}.{l.frame}" for l in labels if l.frame}, seed.file
