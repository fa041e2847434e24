"""An installed wheel works away from the checkout: init, ingest (a loopback feed) and sql in a new project folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.first_run  # a cold Prefect home, like the first-run tests


def _uv() -> str:
    """The uv that `make` installed (or one on PATH)."""
    local = ROOT / ".tools" / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if not found:
        pytest.skip("uv is not installed: `make venv` installs it into .tools/")
    return found


def _run(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run a command, capturing what it prints."""
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_a_wheel_runs_init_ingest_and_sql_from_a_folder_outside_the_checkout(tmp_path, feed_site):
    """Build the wheel, install it with the locked dependencies (offline, from uv's cache) into a new virtual
    environment, and run the console script in a folder that has only a sources.yaml: config/, seeds/ and the SQL
    come from the package."""
    uv = _uv()
    # Offline: the dependencies come from the cache `make venv` filled; nothing leaves the machine.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MEDIAMON_", "VIRTUAL_ENV", "UV_"))}
    env.update(UV_OFFLINE="1", PYTHONPATH="", PREFECT_HOME=str(tmp_path / "prefect-home"),
               PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    dist, venv, project = tmp_path / "dist", tmp_path / "venv", tmp_path / "project"
    built = _run([uv, "build", "--wheel", "--out-dir", str(dist), str(ROOT)], env, tmp_path)
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = dist.glob("mediamon-*.whl")
    # The locked versions with their exact wheel URLs (PEP 751), so uv installs them from its cache, offline.
    locked = tmp_path / "pylock.toml"
    exported = _run([uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--format", "pylock.toml",
                     "--project", str(ROOT), "-o", str(locked)], env, tmp_path)
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert _run([uv, "venv", "--python", sys.executable, str(venv)], env, tmp_path).returncode == 0
    python = str(venv / "bin" / "python")
    for args in (["-r", str(locked)], ["--no-deps", str(wheel)]):
        installed = _run([uv, "pip", "install", "--python", python, *args], env, tmp_path)
        assert installed.returncode == 0, installed.stderr[-3000:]

    from fixtures.site import sources_yaml

    project.mkdir()
    (project / "sources.yaml").write_text(sources_yaml(feed_site[1]), encoding="utf-8")
    mediamon = str(venv / "bin" / "mediamon")
    init = _run([mediamon, "init"], env, project)
    assert init.returncode == 0, init.stderr[-3000:]
    assert "baseline articles added: 4" in init.stdout
    ingest = _run([mediamon, "ingest", "--allow-private"], env, project)
    assert ingest.returncode == 0, ingest.stderr[-3000:]
    totals = json.loads(ingest.stdout.strip().splitlines()[-1])
    assert totals["status"] == "completed" and totals["new_articles"] >= 5
    assert Path(totals["db"]) == project / "warehouse" / "mediamon.duckdb"
    query = _run([mediamon, "sql", "--format", "json",
                  "SELECT count(*) AS n, count(*) FILTER (WHERE is_baseline) AS seeds FROM v_articles"], env, project)
    assert query.returncode == 0, query.stderr[-3000:]
    [row] = json.loads(query.stdout)
    assert row["seeds"] == 4 and row["n"] >= 4 + totals["new_articles"]
    assert not (project / "config").exists() and not (project / "seeds").exists()
    kit = _run([str(venv / "bin" / "python"), "-c", "import importlib.util as u; print(u.find_spec('mediamon.testing'))"],
               env, project)
    assert kit.stdout.strip() == "None", "the demo and test kit stays out of the wheel"
    assert "Traceback" not in init.stderr + ingest.stderr + query.stderr
