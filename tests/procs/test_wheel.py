"""The package as a user gets it: a wheel holding the service and its dashboard (and nothing of
the tests or benchmarks), installed into a fresh virtual environment, serves the dashboard."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.procs import REPO, Procs

# pip builds in an isolated environment: slow on a loaded 2-core box.
BUILD_TIMEOUT_S = 300
# What a working tree holds besides the source.
NOT_SOURCE = (
    ".git",
    ".venv",
    "build",
    "*.egg-info",
    "data",
    "__pycache__",
    "*_cache",
)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    group = Procs(tmp_path)
    yield group
    group.stop_all()


def build_wheel(out: Path) -> Path:
    """From a clean copy of the checkout: setuptools packs its build/ directory, which in a
    working tree may still hold files of an earlier build."""
    source = out.parent / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(out)],
        check=True,
        capture_output=True,
        timeout=BUILD_TIMEOUT_S,
    )
    (wheel,) = out.glob("doccount-*.whl")
    return wheel


def fresh_venv(root: Path, wheel: Path) -> Path:
    """A new environment with only the wheel installed. Its dependencies come from this
    environment's site-packages, added as a plain path (so this checkout's editable install,
    a .pth hook there, is not loaded): fast and offline, and the package itself can come
    only from the wheel."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120
    )
    python = root / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         str(wheel)],
        check=True,
        capture_output=True,
        timeout=BUILD_TIMEOUT_S,
    )  # fmt: skip
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return root


@pytest.fixture
def installed(tmp_path: Path) -> tuple[Path, Path, str]:
    """The wheel, the fresh environment it is installed in, and where the installed package
    finds the dashboard."""
    wheel = build_wheel(tmp_path / "dist")
    venv = fresh_venv(tmp_path / "venv", wheel)
    web_dir = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import server.api.views as v; print(v.WEB_DIR)"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return wheel, venv, web_dir


async def test_a_wheel_installed_in_a_fresh_venv_serves_the_dashboard(
    tmp_path: Path, procs: Procs, installed: tuple[Path, Path, str]
) -> None:
    wheel, venv, web_dir = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert "server/web/index.html" in names
    assert {f"server/web/{p.name}" for p in (REPO / "web").glob("*.js")} <= set(names)
    # the vendored chart library of the history dialog, with its licence
    vendored = {"uPlot.esm.js", "uPlot.min.css", "LICENSE"}
    assert {f"server/web/vendor/uplot/{n}" for n in vendored} <= set(names)
    assert {"server/store/sqlite_schema.sql", "server/store/lua/claim.lua"} <= set(names)
    # pyproject.toml lists the packages: a new one left out of the list would be missing here.
    source = {str(p.relative_to(REPO)) for p in (REPO / "server").rglob("*.py")}
    assert source <= set(names), source - set(names)
    data = {str(p.relative_to(REPO)) for p in (REPO / "server").rglob("*.sql")}
    data |= {str(p.relative_to(REPO)) for p in (REPO / "server").rglob("*.lua")}
    assert data <= set(names), data - set(names)
    assert {n.split("/")[0] for n in names} == {"server", "doccount-0.1.0.dist-info"}
    assert not [n for n in names if "test" in n.lower() or "bench" in n.lower()]
    assert Path(web_dir).is_relative_to(venv), web_dir

    home = tmp_path / "home"
    home.mkdir()
    node = await procs.listening(
        "installed",
        *("serve", "--port", "{port}", "--store", f"sqlite:///{home}/doccount.db"),
        *("--provider", "demo"),
        ready_path="/api/config",
        program=str(venv / "bin" / "doccount"),
        cwd=home,
    )
    async with aiohttp.ClientSession() as http:
        async with http.get(node.url + "/") as resp:
            assert (resp.status, resp.content_type) == (200, "text/html")
            assert await resp.read() == (REPO / "web" / "index.html").read_bytes()
        async with http.get(node.url + "/static/app.js") as resp:
            assert resp.status == 200
            assert await resp.read() == (REPO / "web" / "app.js").read_bytes()
        async with http.get(node.url + "/api/config") as resp:
            assert (await resp.json())["provider"] == "demo"
