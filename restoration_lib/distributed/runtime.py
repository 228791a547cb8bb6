"""Joining a Ray cluster, resources per task, a per-process cache of built stages, progress from the workers."""
from __future__ import annotations

import contextlib
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

from ..errors import RestorationError

__all__ = ["RayUnavailableError", "INSTALL_HINT", "require_ray", "connected", "Resources", "plan_resources", "cached",
           "new_token", "ProgressCounter", "unwrap"]

#: How to install the optional Ray extra (what the one-line error says).
INSTALL_HINT = 'pip install "restoration-lib[ray]"'


class RayUnavailableError(RestorationError, ImportError):
    """The Ray engine was asked for but Ray is not installed."""


def require_ray():
    """Import and return the ``ray`` module.

    Raises:
        RayUnavailableError: Ray is not installed (the message is one line saying how to install it).
    """
    try:
        import ray
    except ImportError:
        raise RayUnavailableError(f"engine='ray' needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


class RayStartError(RestorationError, RuntimeError):
    """Ray is installed but its runtime could not be started or joined."""


@contextlib.contextmanager
def connected(address: Optional[str] = None, **init_kwargs) -> Iterator[Any]:
    """Use the Ray runtime this process is already connected to, or connect for the duration of the block.

    Args:
        address: ``None`` starts a local Ray runtime on this machine (stopped at the end); ``"auto"`` or
            ``"host:port"`` joins a running cluster (``ray start --head`` on one machine, ``ray start
            --address=host:port`` on the others); the cluster keeps running afterwards.
        init_kwargs: passed to ``ray.init`` (e.g. ``runtime_env``).

    Yields:
        The ``ray`` module.
    """
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    kw = {"include_dashboard": False} if address is None else {}
    kw.update(log_to_driver=False)
    kw.update(init_kwargs)
    try:
        ray.init(address=address, **kw)
    except Exception as e:  # Ray raises bare Exception/ConnectionError when its processes do not come up
        where = "a local Ray runtime" if address is None else f"the Ray cluster at {address}"
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise RayStartError(
            f"could not start or join {where}: {first} (on a busy machine Ray's start-up can time out: try "
            "again, or start it first with `ray start --head` and pass --ray auto)"
        ) from e
    try:
        yield ray
    finally:
        ray.shutdown()


@dataclass(frozen=True)
class Resources:
    """What one model-running task or actor asks of a node.

    Attributes:
        num_gpus: GPUs per task (1 on GPU nodes: one model copy per GPU; 0 on CPU clusters).
        num_cpus: CPU cores per task (the threads its CPU work may use).
        workers: how many run at once (the number of actors for folders; tasks in flight for films).
    """

    num_gpus: float
    num_cpus: float
    workers: int

    def options(self) -> dict:
        return {"num_gpus": self.num_gpus, "num_cpus": self.num_cpus}


def plan_resources(ray, workers: Optional[int] = None, num_gpus: Optional[float] = None,
                   num_cpus: Optional[float] = None) -> Resources:
    """Resources for the model stages from the cluster's totals.

    Defaults: one GPU per worker when the cluster has GPUs (and as many workers as GPUs); otherwise ``num_cpus``
    cores per worker and as many workers as fit in the cluster's CPUs. Without ``num_cpus``: 1 core per worker,
    or, when ``workers`` is given on a CPU cluster, the cluster's cores shared among them (at most one node's).
    """
    total = ray.cluster_resources()
    gpus = float(total.get("GPU", 0))
    cpus = float(total.get("CPU", 1))
    if num_gpus is None:
        num_gpus = 1.0 if gpus >= 1 else 0.0
    if num_cpus is None:
        num_cpus = 1.0
        if num_gpus == 0 and workers is not None and workers >= 1:
            # the asked workers share the cores (one worker gets a whole node, as the single-machine run has),
            # but no worker asks for more than the largest node has
            biggest = max((float(n.get("Resources", {}).get("CPU", 0)) for n in ray.nodes() if n.get("Alive")),
                          default=1.0)
            num_cpus = float(max(1, int(min(biggest, cpus // workers))))
    if workers is None:
        workers = int(gpus // num_gpus) if num_gpus > 0 else int(cpus // max(num_cpus, 1e-9))
    if workers < 1:
        raise ValueError(f"workers must be at least 1; got {workers} (cluster: {total})")
    return Resources(num_gpus=float(num_gpus), num_cpus=float(num_cpus), workers=int(workers))


# ------------------------------------------------------------------------------------------- worker cache

_CACHE: dict[str, Any] = {}
_CACHE_LOCK = threading.RLock()


def new_token() -> str:
    """A key for one run's stages in the workers' caches."""
    return uuid.uuid4().hex


def cached(key: str, build: Callable[[], Any]) -> Any:
    """The object built for ``key`` in this worker process (built once; other runs' entries are dropped).

    Ray reuses a worker process for many tasks, so models are loaded once per worker and run, not per task.
    """
    with _CACHE_LOCK:
        if key not in _CACHE:
            prefix = key.split(":", 1)[0]
            for k in [k for k in _CACHE if not k.startswith(prefix)]:
                del _CACHE[k]  # another run's models: free their memory
            _CACHE[key] = build()
        return _CACHE[key]


def use_threads(num_cpus: float) -> None:
    """Let this worker's torch use the cores its task or actor was given (at least one)."""
    import torch

    n = max(1, int(num_cpus))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


class ProgressCounter:
    """Counts units of work reported by the workers (a Ray actor; the driver polls it for the bar)."""

    def __init__(self):
        self.n = 0

    def add(self, n: int) -> None:
        self.n += n

    def get(self) -> int:
        return self.n


def unwrap(ray, err: Exception) -> Exception:
    """The exception a task raised, without Ray's wrapper (so callers see e.g. MissingWeightsError)."""
    cause = getattr(err, "cause", None)
    if isinstance(err, ray.exceptions.RayTaskError) and isinstance(cause, Exception):
        return cause
    return err
