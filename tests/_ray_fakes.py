"""Stand-in stages for the Ray tests (tests/test_ray.py): the pipeline fakes, plus ways to be slow or be killed."""
from __future__ import annotations

import os
import time
from pathlib import Path

from _pipeline_fakes import JitterColorizer


class SlowColorizer(JitterColorizer):
    """JitterColorizer that takes ``delay`` seconds a call (time for a test to interrupt the driver)."""

    def __init__(self, delay: float):
        super().__init__()
        self.delay = delay

    def __call__(self, rgb, **kw):
        time.sleep(self.delay)
        return super().__call__(rgb, **kw)


class DieOnceColorizer(JitterColorizer):
    """JitterColorizer whose worker process, on its ``at``-th call, writes its pid to ``marker`` (once for the
    whole cluster: the file is created exclusively) and waits to be killed; every other call colorizes."""

    def __init__(self, marker: str, at: int = 3):
        super().__init__()
        self.marker, self.at, self.n = marker, at, 0

    def __call__(self, rgb, **kw):
        self.n += 1
        if self.n == self.at:
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:  # the test kills this process meanwhile
                    time.sleep(0.1)
                Path(self.marker + ".survived").touch()
        return super().__call__(rgb, **kw)
