"""Packaging facts: environment.yml mirrors pyproject.toml, forbidden run-time dependencies stay out."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_environment_yml_parses_and_names_the_same_packages_as_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda_side = {_name(r): r.replace(" ", "") for r in pip if not r.startswith("-")}
    proj = _pyproject()
    wanted = list(proj["dependencies"])
    for extra in ("faces", "notebooks"):
        wanted += proj["optional-dependencies"][extra]
    py_side = {_name(r): r.replace(" ", "") for r in wanted}
    assert conda_side.keys() == py_side.keys()
    for k in py_side:  # same version constraints too
        assert conda_side[k].lower().replace("_", "-") == py_side[k].lower().replace("_", "-"), k


def test_torch_is_pinned_and_forbidden_packages_are_absent():
    proj = _pyproject()
    deps = proj["dependencies"] + sum(proj["optional-dependencies"].values(), [])
    assert "torch==2.13.0" in deps
    names = {_name(d) for d in deps}
    assert not names & {"torchvision", "fastai", "deoldify", "spandrel", "opencv-python", "dlib"}
    assert any(d.startswith("opencv-python-headless") and "<5" in d for d in deps)


def test_no_torchvision_import_anywhere_in_the_library():
    for p in (ROOT / "restoration_lib").rglob("*.py"):
        src = p.read_text()
        assert not re.search(r"^\s*(import|from)\s+(torchvision|fastai|deoldify|spandrel)\b", src, re.M), p
