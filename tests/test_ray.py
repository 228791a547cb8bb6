"""The Ray engine against a real local Ray cluster (a head node and a second node process on this machine).

Outputs must be identical to the single-machine run: the same PNG bytes for a folder, the same film bytes; a
worker process killed mid-film still gives the same film; a driver killed mid-folder or mid-film leaves work a
re-run skips. Stand-in stages (tests/_pipeline_fakes.py, tests/_ray_fakes.py) need no weights.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from _pipeline_fakes import BlendInterpolator, Invert, JitterColorizer
from restoration_lib.distributed import INSTALL_HINT, RayUnavailableError, require_ray
from restoration_lib.io import write_image
from restoration_lib.pipeline import restore_film, restore_folder, work_dir_for
from restoration_lib.pipeline.folder import MANIFEST_NAME

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_without_ray_the_engine_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails, as when it is not installed
    with pytest.raises(RayUnavailableError) as e:
        require_ray()
    assert INSTALL_HINT in str(e.value) and "\n" not in str(e.value)
    (tmp_path / "src").mkdir()
    with pytest.raises(RayUnavailableError, match="restoration-lib\\[ray\\]"):
        restore_folder(tmp_path / "src", tmp_path / "dst", repair=Invert(), colorize=False, engine="ray")
    with pytest.raises(ValueError, match="engine must be 'local' or 'ray'"):
        restore_folder(tmp_path / "src", tmp_path / "dst", repair=Invert(), colorize=False, engine="spark")


@pytest.mark.parametrize("name", ["bikes"])
def test_chunk_decoding_from_the_keyframe_gives_the_frames_of_a_decode_from_the_start(data_dir, name):
    from restoration_lib.video.io import SeekingFrames as _Frames, presentation_pts as _presentation_pts
    from restoration_lib.video.io import Decoder

    src = data_dir / "video" / f"{name}.mp4"
    with Decoder(src, warn=False) as d:
        frames = [f.rgb for f in d]
    pts = _presentation_pts(src)
    assert pts is not None and len(pts) == len(frames)
    for index in (17, len(frames) // 2 + 1, len(frames) - 2):
        it = _Frames(src, pts, index, len(frames))
        got = list(it)
        it.close()
        assert [f.index for f in got] == list(range(index, len(frames)))
        assert all(np.array_equal(f.rgb, frames[f.index]) for f in got)
    # timestamps that do not fit the numbering: the frames come from a decode from the start instead
    bad = list(pts)
    bad[30] = bad[30] + 1
    got = list(_Frames(src, bad, 20, 40))
    assert [f.index for f in got] == list(range(20, 40)) and all(np.array_equal(f.rgb, frames[f.index]) for f in got)


# ------------------------------------------------------------------------------------------------ cluster


def _ports() -> dict:
    """Fixed agent ports: with ports left to the agents, a raylet waits only 15 s for them to report theirs."""
    def free() -> int:
        with socket.socket() as s:
            s.bind(("", 0))
            return s.getsockname()[1]

    return {"metrics_agent_port": free(), "metrics_export_port": free(), "dashboard_agent_listen_port": free(),
            "runtime_env_agent_port": free()}


def _start_cluster(Cluster):
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False, **_ports()})
    try:
        cluster.add_node(num_cpus=1, **_ports())
        cluster.wait_for_nodes(timeout=120)
    except BaseException:
        cluster.shutdown()
        raise
    return cluster


@contextlib.contextmanager
def _patient_node_registration(limit: float = 150.0):
    """Ray gives a starting node a fixed 30 s to register with the cluster (ray._private.node), too little on a
    loaded CI machine: while the cluster starts, the registration lookup it polls keeps retrying up to ``limit``."""
    from ray._private import services

    get_node = services.get_node

    def patient(*args, **kwargs):
        deadline = time.monotonic() + limit
        while True:
            try:
                return get_node(*args, **kwargs)
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    services.get_node = patient
    try:
        yield
    finally:
        services.get_node = get_node


_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


@pytest.fixture(scope="module")
def cluster():
    """A two-node Ray cluster on 127.0.0.1 (1 CPU each) whose workers import this checkout and the test fakes.

    Ray binds a node to the machine's network address and rewrites a driver's 127.0.0.1 to it, unless its
    single-host mode is on (the mode it uses on macOS and Windows, switched on here by its environment variable,
    which the nodes and workers inherit): then every node, the driver and the workers use the loopback address.
    """
    pytest.importorskip("ray", reason=f"Ray is not installed ({INSTALL_HINT})")
    import ray
    from ray._private import ray_constants
    from ray.cluster_utils import Cluster

    old = os.environ.get("PYTHONPATH")
    old_loopback = os.environ.get(_LOOPBACK_ENV)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(TESTS)] + ([old] if old else []))
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ[_LOOPBACK_ENV] = "0"
    old_const, ray_constants.ENABLE_RAY_CLUSTER = ray_constants.ENABLE_RAY_CLUSTER, False
    try:
        with _patient_node_registration():
            for attempt in range(3):
                try:
                    c = _start_cluster(Cluster)
                    break
                except Exception:  # noqa: BLE001 - a raylet aborts when its agents take > 15 s to start
                    if attempt == 2:
                        raise
        assert c.address.startswith("127.0.0.1:"), c.address
        ray.init(address=c.address, log_to_driver=False)
        alive = [n for n in ray.nodes() if n["Alive"]]
        assert len(alive) == 2 and {n["NodeManagerAddress"] for n in alive} == {"127.0.0.1"}, alive
        yield c
    finally:
        ray.shutdown()
        if "c" in locals():
            c.shutdown()
        ray_constants.ENABLE_RAY_CLUSTER = old_const
        if old_loopback is None:
            os.environ.pop(_LOOPBACK_ENV, None)
        else:
            os.environ[_LOOPBACK_ENV] = old_loopback
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


# ------------------------------------------------------------------------------------------------- folders


def _photos(folder: Path, n: int = 6) -> None:
    rng = np.random.default_rng(7)
    folder.mkdir()
    for i in range(n):
        gray = (rng.random((40 + 4 * i, 56, 1)) * 255).astype(np.uint8)
        write_image(folder / f"p{i}.png", np.repeat(gray, 3, axis=2))
    rgba = np.dstack([np.full((32, 32, 3), 90, np.uint8), np.full((32, 32), 200, np.uint8)])
    write_image(folder / "alpha.png", rgba[..., :3], alpha=rgba[..., 3])
    (folder / "broken.jpg").write_bytes(b"not an image")


def _files(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): _sha(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in (MANIFEST_NAME, "index.html")}


def test_folder_identical_to_the_single_machine_run(cluster, tmp_path):
    src = tmp_path / "src"
    _photos(src)
    kw = dict(repair=Invert(), colorize=JitterColorizer(), progress=False)
    local = restore_folder(src, tmp_path / "local", **kw)
    rep = restore_folder(src, tmp_path / "ray", engine="ray", address=cluster.address, **kw)
    assert [p.name for p in rep.done] == [p.name for p in local.done] and len(rep.done) == 7
    assert [p.name for p, _ in rep.failed] == ["broken.jpg"] and "ImageReadError" in rep.failed[0][1]
    assert _files(tmp_path / "ray") == _files(tmp_path / "local")  # outputs and thumbnails, byte for byte
    m_local = json.loads((tmp_path / "local" / MANIFEST_NAME).read_text())
    m_ray = json.loads((tmp_path / "ray" / MANIFEST_NAME).read_text())
    assert m_ray == m_local
    # a re-run with either engine skips everything
    again = restore_folder(src, tmp_path / "ray", engine="ray", address=cluster.address, **kw)
    assert not again.done and len(again.skipped) == 7
    assert len(restore_folder(src, tmp_path / "ray", **kw).skipped) == 7


_FOLDER_DRIVER = """
import sys
sys.path[:0] = [{root!r}, {tests!r}]
from _pipeline_fakes import Invert
from _ray_fakes import SlowColorizer
from restoration_lib.pipeline import restore_folder
restore_folder({src!r}, {dst!r}, repair=Invert(), colorize=SlowColorizer(0.5), progress=False, engine="ray",
               address={address!r})
"""


def _driver(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kill_when(p: subprocess.Popen, ready, what: str, limit: float = 150) -> None:
    deadline = time.monotonic() + limit
    while not ready():
        assert p.poll() is None, p.communicate()[1][-3000:]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.communicate()


def test_interrupted_folder_driver_rerun_skips_finished_photos(cluster, tmp_path):
    src = tmp_path / "src"
    _photos(src)
    (src / "broken.jpg").unlink()
    dst = tmp_path / "ray"
    p = _driver(_FOLDER_DRIVER.format(root=str(ROOT), tests=str(TESTS), src=str(src), dst=str(dst),
                                      address=cluster.address))

    def two_done() -> bool:
        try:
            return len(json.loads((dst / MANIFEST_NAME).read_text())["photos"]) >= 2
        except (OSError, ValueError, KeyError):
            return False

    _kill_when(p, two_done, "two finished photos")
    finished = len(json.loads((dst / MANIFEST_NAME).read_text())["photos"])
    assert finished < 7
    from _ray_fakes import SlowColorizer

    rep = restore_folder(src, dst, repair=Invert(), colorize=SlowColorizer(0.0), progress=False, engine="ray",
                         address=cluster.address)
    assert len(rep.skipped) == finished and len(rep.done) == 7 - finished and not rep.failed
    local = restore_folder(src, tmp_path / "local", repair=Invert(), colorize=SlowColorizer(0.0), progress=False)
    assert _files(dst) == _files(tmp_path / "local") and len(local.done) == 7


# ---------------------------------------------------------------------------------------------------- films


FILM = dict(repair=False, interpolate=BlendInterpolator(), chunk_seconds=0.32, progress=False)


@pytest.mark.parametrize("name, seconds", [("bikes", 1.6), ("chaplin", 0.8)])
def test_film_identical_to_the_single_machine_run(cluster, data_dir, tmp_path, name, seconds):
    # bikes: a scene cut at frame 30 inside the 4th chunk; chaplin: audio
    src = data_dir / "video" / f"{name}.mp4"
    local = restore_film(src, tmp_path / "local.mp4", colorize=JitterColorizer(), duration=seconds, **FILM)
    rep = restore_film(src, tmp_path / "ray.mp4", colorize=JitterColorizer(), duration=seconds, engine="ray",
                       address=cluster.address, **FILM)
    assert rep.chunks == local.chunks >= 3 and rep.frames_out == local.frames_out
    assert rep.scene_cuts == local.scene_cuts and rep.audio_streams == local.audio_streams
    assert _sha(tmp_path / "ray.mp4") == _sha(tmp_path / "local.mp4")  # identical bytes
    assert not work_dir_for(tmp_path / "ray.mp4").exists()


def test_killed_worker_mid_film_gives_the_identical_film(cluster, data_dir, tmp_path):
    from _ray_fakes import DieOnceColorizer

    src = data_dir / "video" / "bikes.mp4"
    restore_film(src, tmp_path / "local.mp4", colorize=JitterColorizer(), duration=1.6, **FILM)
    marker = tmp_path / "worker.pid"
    killed = []

    def killer():
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            try:
                pid = int(marker.read_text())
            except (OSError, ValueError):
                time.sleep(0.05)
                continue
            os.kill(pid, signal.SIGKILL)  # the Ray worker process running a chunk
            killed.append(pid)
            return

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    rep = restore_film(src, tmp_path / "ray.mp4", colorize=DieOnceColorizer(str(marker)), duration=1.6,
                       engine="ray", address=cluster.address, **FILM)
    t.join(5)
    assert killed, "no worker reached the kill point"
    assert not Path(f"{marker}.survived").exists()
    assert rep.chunks == 5
    assert _sha(tmp_path / "ray.mp4") == _sha(tmp_path / "local.mp4")


_FILM_DRIVER = """
import sys
sys.path[:0] = [{root!r}, {tests!r}]
from _pipeline_fakes import BlendInterpolator
from _ray_fakes import SlowColorizer
from restoration_lib.pipeline import restore_film
restore_film({src!r}, {dst!r}, repair=False, colorize=SlowColorizer({delay}), interpolate=BlendInterpolator(),
             chunk_seconds=0.32, duration=1.6, progress=False, engine="ray", address={address!r})
"""


def test_interrupted_film_driver_rerun_resumes_to_identical_bytes(cluster, data_dir, tmp_path):
    from _ray_fakes import SlowColorizer

    src = data_dir / "video" / "bikes.mp4"
    dst = tmp_path / "ray.mp4"
    parts = work_dir_for(dst)
    p = _driver(_FILM_DRIVER.format(root=str(ROOT), tests=str(TESTS), src=str(src), dst=str(dst), delay=0.3,
                                    address=cluster.address))
    _kill_when(p, lambda: (parts / "chunk_00000.mp4").exists(), "a finished chunk")
    assert not dst.exists()
    finished = 0
    while (parts / f"chunk_{finished:05d}.mp4").exists():
        finished += 1
    rep = restore_film(src, dst, colorize=SlowColorizer(0.0), duration=1.6, engine="ray",
                       address=cluster.address, **FILM)
    assert rep.chunks == 5 and 1 <= rep.resumed_chunks == finished < 5
    local = restore_film(src, tmp_path / "local.mp4", colorize=SlowColorizer(0.0), duration=1.6, **FILM)
    assert local.chunks == 5 and _sha(dst) == _sha(tmp_path / "local.mp4")


class _FakeRay:
    """What plan_resources reads of a cluster: its totals and its nodes."""

    def __init__(self, nodes: list[dict]):
        self._nodes = [{"Alive": True, "Resources": r} for r in nodes]

    def cluster_resources(self) -> dict:
        total: dict = {}
        for n in self._nodes:
            for k, v in n["Resources"].items():
                total[k] = total.get(k, 0) + v
        return total

    def nodes(self) -> list[dict]:
        return self._nodes


@pytest.mark.parametrize("workers, cpus, want", [
    (None, None, (1.0, 4)),  # one 1-core worker per core
    (1, None, (2.0, 1)),     # one worker gets a whole node, no more than a node has
    (2, None, (2.0, 2)),
    (4, None, (1.0, 4)),
    (8, None, (1.0, 8)),     # more workers than cores: 1 core each (Ray queues them)
    (2, 1.0, (1.0, 2)),      # num_cpus as given
])
def test_plan_resources_shares_the_cores_among_the_workers_asked_for(workers, cpus, want):
    from restoration_lib.distributed.runtime import plan_resources

    res = plan_resources(_FakeRay([{"CPU": 2.0}, {"CPU": 2.0}]), workers, None, cpus)
    assert (res.num_cpus, res.workers) == want and res.num_gpus == 0.0


def test_plan_resources_on_gpu_nodes_gives_each_worker_a_gpu():
    from restoration_lib.distributed.runtime import plan_resources

    res = plan_resources(_FakeRay([{"CPU": 16.0, "GPU": 2.0}, {"CPU": 16.0, "GPU": 2.0}]))
    assert (res.num_gpus, res.num_cpus, res.workers) == (1.0, 1.0, 4)
