"""The film's timeline: scene cuts, held (repeated) frames, re-timing, and the output time grid.

One set of rules for every path that changes a film's frame rate (``interpolate_video`` and ``restore_film``):

1. **Analyse** each decoded frame on a 160-pixel-wide gray thumbnail against the previous one:

   - a *repeat* (the same picture again, as when a 16–18 fps film is padded to 24/25 fps): mean absolute
     difference below ``repeat_threshold`` levels and no 8×8 thumbnail block changing by 2 levels or more;
   - a *cut*: after motion compensation (DIS optical flow on the thumbnails) the mean absolute residual
     exceeds ``scene_threshold`` levels.
2. **Group** frames into *pictures* (a picture and its repeats) and **re-time** them: a run of up to three
   identical frames becomes one picture placed at the middle of its run, smoothed with a local linear fit over
   its neighbours so the cadence of the original camera is restored. Longer runs are freezes and keep their
   own times.
3. **Place** output frames on the exact grid ``k / rate`` (rational arithmetic, so no drift at 23.976 or
   29.97 fps) as :class:`Slot` s: an output time that falls on a picture's time copies it; one between two
   pictures of the same shot is interpolated at the matching ``t``; one across a cut copies a picture (the
   earlier one, or the nearer one with ``at_cut="nearest"``); after the last picture it is held until the
   source's end.

Everything streams (bounded memory) except :func:`analyse`, which keeps the pictures' times (no images) for
the whole film so that any segment of it can be restored on its own.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Iterable, Iterator, Optional, Union

import cv2
import numpy as np

__all__ = [
    "Analyser",
    "Picture",
    "Slot",
    "Timeline",
    "analyse",
    "group_pictures",
    "retime",
    "grid",
    "thumbnail",
    "DEFAULT_SCENE_THRESHOLD",
    "DEFAULT_REPEAT_THRESHOLD",
]

_THUMB_WIDTH = 160
_BLOCK = 8
_BLOCK_LIMIT = 2.0  # levels: a repeat changes no thumbnail block by this much on average
_MAX_RUN = 3  # a picture shown up to this many times in a row is cadence padding, longer is a freeze
_FIT_RADIUS = 2  # neighbours on each side used to smooth re-timed pictures
_EPS = 1e-6
DEFAULT_SCENE_THRESHOLD = 30.0
DEFAULT_REPEAT_THRESHOLD = 0.3

Time = Union[Fraction, float]


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    """The analysis thumbnail of an H,W,3 uint8 RGB frame: gray, at most 160 px wide, float32 in [0, 255]."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    tw = min(_THUMB_WIDTH, w)
    th = max(_BLOCK, round(h * tw / w))
    return cv2.resize(gray, (tw, th), interpolation=cv2.INTER_AREA).astype(np.float32)


class Analyser:
    """The scene-cut and repeat tests on two thumbnails (see the module docstring).

    Args:
        scene_threshold: motion-compensated mean absolute residual (levels) above which two frames are a cut;
            ``None`` finds no cuts.
        repeat_threshold: mean absolute difference (levels) below which a frame repeats the previous picture;
            ``None`` finds no repeats.
    """

    def __init__(self, scene_threshold: Optional[float] = DEFAULT_SCENE_THRESHOLD,
                 repeat_threshold: Optional[float] = DEFAULT_REPEAT_THRESHOLD):
        self.scene_threshold = scene_threshold
        self.repeat_threshold = repeat_threshold
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)

    def is_repeat(self, a: np.ndarray, b: np.ndarray) -> bool:
        """Whether thumbnail ``b`` shows the same picture as ``a``."""
        if self.repeat_threshold is None:
            return False
        d = np.abs(a - b)
        if d.mean() >= self.repeat_threshold:
            return False
        hb = d.shape[0] // _BLOCK * _BLOCK
        wb = d.shape[1] // _BLOCK * _BLOCK
        blocks = d[:hb, :wb].reshape(hb // _BLOCK, _BLOCK, wb // _BLOCK, _BLOCK).mean(axis=(1, 3))
        return bool(blocks.max() < _BLOCK_LIMIT)

    def cut_score(self, a: np.ndarray, b: np.ndarray) -> float:
        """Mean absolute residual (levels) of ``a`` predicted from ``b`` by motion compensation."""
        flow = self._dis.calc(a.astype(np.uint8), b.astype(np.uint8), None)
        h, w = a.shape
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        pred = cv2.remap(b, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return float(np.abs(pred - a).mean())

    def is_cut(self, a: np.ndarray, b: np.ndarray) -> bool:
        """Whether thumbnail ``b`` starts a new shot after ``a``."""
        return self.scene_threshold is not None and self.cut_score(a, b) > self.scene_threshold


@dataclass
class Picture:
    """One distinct picture of the film: where it was shown and when it was taken.

    Attributes:
        image: H,W,3 uint8 RGB (None in a :class:`Timeline`, which keeps no images).
        thumb: its analysis thumbnail (None in a :class:`Timeline`).
        index: source index of its first occurrence.
        times: times (seconds from the first frame) of its occurrences.
        cut_before: it starts a new shot.
        time: re-timed capture time (``Fraction``, or float when smoothed).
    """

    image: Optional[np.ndarray]
    thumb: Optional[np.ndarray]
    index: int
    times: list
    cut_before: bool = False
    time: Any = None

    @property
    def first(self) -> Fraction:
        return self.times[0]

    @property
    def last(self) -> Fraction:
        return self.times[-1]

    @property
    def mid(self) -> Fraction:
        return (self.times[0] + self.times[-1]) / 2


def group_pictures(frames: Iterable[tuple[np.ndarray, Fraction]], analyser: Analyser, cuts: list,
                   repeats: list) -> Iterator[Picture]:
    """Group decoded ``(rgb, time)`` frames into pictures (a picture and its repeats), appending the indices of
    cut frames to ``cuts`` and of repeated frames to ``repeats``.

    A frame repeats the current picture when it matches that picture's first occurrence; cuts are judged
    between consecutive frames.
    """
    cur: Optional[Picture] = None
    held = False  # inside a freeze (a run longer than _MAX_RUN): every occurrence is its own picture
    prev_thumb = None
    for i, (img, t) in enumerate(frames):
        th = thumbnail(img)
        if cur is not None and analyser.is_repeat(cur.thumb, th):
            repeats.append(i)
            prev_thumb = th
            if not held and len(cur.times) < _MAX_RUN:
                cur.times.append(t)
                continue
            if held:
                yield cur
            else:
                held = True
                for k, tk in enumerate(cur.times):
                    yield Picture(cur.image, cur.thumb, cur.index + k, [tk], cur.cut_before and k == 0)
            cur = Picture(img, th, i, [t])
            continue
        cut = cur is not None and analyser.is_cut(prev_thumb, th)
        if cut:
            cuts.append(i)
        if cur is not None:
            yield cur
        held = False
        cur = Picture(img, th, i, [t], cut_before=cut)
        prev_thumb = th
    if cur is not None:
        yield cur


def _settle(window: list, j: int) -> None:
    """Set ``window[j].time`` from its neighbours in ``window`` (same shot, up to _FIT_RADIUS each side)."""
    p = window[j]
    r = _FIT_RADIUS
    lo = j
    while lo > 0 and j - lo < r and not window[lo].cut_before:
        lo -= 1
    hi = j
    while hi + 1 < len(window) and hi - j < r and not window[hi + 1].cut_before:
        hi += 1
    group = window[lo : hi + 1]
    if not any(len(q.times) > 1 for q in group):
        p.time = p.first
        return
    if len(group) < 3:
        p.time = p.mid
    else:
        slope, icpt = np.polyfit(np.arange(lo, hi + 1, dtype=np.float64), [float(q.mid) for q in group], 1)
        p.time = float(slope * j + icpt)
    lower = (window[j - 1].last + p.first) / 2 if j > 0 and not p.cut_before else p.first
    nxt = window[j + 1] if j + 1 < len(window) and not window[j + 1].cut_before else None
    upper = (p.last + nxt.first) / 2 if nxt is not None else p.last
    p.time = min(max(p.time, lower), upper)


def retime(pictures: Iterable[Picture], anchor: str = "fit") -> Iterator[Picture]:
    """Give every picture its capture time.

    With ``anchor="fit"``: its own time where no repeat is near; otherwise the middle of its run, smoothed by a
    linear fit over its neighbours and kept between the midpoints of the gaps to them (an even cadence). Holds
    at most 2 * _FIT_RADIUS + 1 pictures. With ``anchor="first"``: the time of its first occurrence (its
    repeats are dropped and the gap to the next picture is interpolated: no still frames, but the speed follows
    the padding pattern).
    """
    if anchor not in ("fit", "first"):
        raise ValueError(f"anchor must be 'fit' or 'first'; got {anchor!r}")
    if anchor == "first":
        for pic in pictures:
            pic.time = pic.first
            yield pic
        return
    r = _FIT_RADIUS
    window: list[Picture] = []
    j = 0  # next picture to settle
    for pic in pictures:
        window.append(pic)
        while len(window) - 1 - j >= r:
            _settle(window, j)
            yield window[j]
            j += 1
        if j > r:
            del window[: j - r]
            j = r
    while j < len(window):
        _settle(window, j)
        yield window[j]
        j += 1


@dataclass(frozen=True)
class Slot:
    """One output frame: ``k`` on the grid ``k / rate``; a copy of picture ``a`` when ``b`` is None, else the
    frame interpolated between pictures ``a`` and ``b`` at ``t`` in (0, 1)."""

    k: int
    a: Picture
    b: Optional[Picture] = None
    t: float = 0.0


def grid(pictures: Iterable[Picture], rate: Fraction, end: Union[Time, None, Callable[[], Optional[Time]]], *, at_cut: str = "previous",
         k0: int = 0, k1: Optional[int] = None) -> Iterator[Slot]:
    """The output frames ``k0 ≤ k < k1`` on the grid ``k / rate`` (seconds from the first source frame).

    Args:
        pictures: re-timed pictures in order, starting at or before the one shown at ``k0 / rate``.
        rate: output frame rate.
        end: the source's end (seconds): the last picture is held until it (None: stop at the last picture);
            may be a function called after the last picture (for streams whose end is known only then).
        at_cut: across a cut, copy the ``"previous"`` picture or the ``"nearest"`` one (ties go to the later).
        k0, k1: the range of output frames (``k1`` None: to the end).
    """
    if at_cut not in ("previous", "nearest"):
        raise ValueError(f"at_cut must be 'previous' or 'nearest'; got {at_cut!r}")
    k = k0
    prev: Optional[Picture] = None
    for pic in pictures:
        while (k1 is None or k < k1) and Fraction(k) / rate < pic.time:
            tau = Fraction(k) / rate
            if prev is None:
                yield Slot(k, pic)
            elif pic.cut_before:
                nearer_prev = at_cut == "previous" or tau - prev.time < pic.time - tau
                yield Slot(k, prev if nearer_prev else pic)
            else:
                t = float((tau - prev.time) / (pic.time - prev.time))
                if t <= _EPS:
                    yield Slot(k, prev)
                elif t >= 1 - _EPS:
                    yield Slot(k, pic)
                else:
                    yield Slot(k, prev, pic, t)
            k += 1
        prev = pic
        if k1 is not None and k >= k1:
            return
    if prev is None:
        return
    if callable(end):
        end = end()
    while end is not None and (k1 is None or k < k1) and Fraction(k) / rate < end:
        yield Slot(k, prev)
        k += 1


# ------------------------------------------------------------------------------------------ a whole film


@dataclass
class Timeline:
    """The analysed timeline of a whole film (no images): what any segment of it needs to be restored alone.

    Attributes:
        rate: nominal input frame rate.
        frame_times: time (seconds from the first frame) of every decoded source frame.
        end: seconds from the first frame to the end of the last.
        start: absolute time (seconds) of the first frame in the file.
        pictures: the re-timed pictures (``image``/``thumb`` None).
        cuts: source indices of the first frame of every new shot.
        repeats: source indices of frames that repeat their picture.
        expected: frames the container declares (None when unknown).
        truncated: fewer frames than declared could be read.
    """

    rate: Fraction
    frame_times: list[Fraction]
    end: Fraction
    start: Fraction
    pictures: list[Picture]
    cuts: list[int] = field(default_factory=list)
    repeats: list[int] = field(default_factory=list)
    expected: Optional[int] = None
    truncated: bool = False
    _first_frames: Optional[list[int]] = field(default=None, repr=False, compare=False)

    @property
    def frames(self) -> int:
        return len(self.frame_times)

    def frames_out(self, rate: Fraction) -> int:
        """Output frames at ``rate`` (the last picture held until the source's end)."""
        return math.ceil(self.end * rate)

    def first_slot(self, frame: int, rate: Fraction) -> int:
        """The first output frame at ``rate`` at or after source frame ``frame`` (``frames`` → the end)."""
        if frame >= self.frames:
            return self.frames_out(rate)
        return math.ceil(self.frame_times[frame] * rate)

    def position(self, picture: Picture) -> int:
        """The position of ``picture`` in :attr:`pictures` (pictures are told apart by their first frame)."""
        if self._first_frames is None or len(self._first_frames) != len(self.pictures):
            self._first_frames = [p.index for p in self.pictures]
        i = _bisect_right(self._first_frames, picture.index) - 1
        if i < 0 or self._first_frames[i] != picture.index:
            raise ValueError(f"no picture starts at frame {picture.index}")
        return i

    def slots(self, rate: Fraction, k0: int, k1: int, at_cut: str = "previous") -> list[Slot]:
        """The output frames ``k0 ≤ k < k1`` (see :func:`grid`)."""
        times = [p.time for p in self.pictures]
        tau = Fraction(k0) / rate
        p0 = max(0, _bisect_right(times, tau) - 1)
        return list(grid(itertools.islice(self.pictures, p0, None), rate, self.end, at_cut=at_cut, k0=k0, k1=k1))


def _bisect_right(values: list, x) -> int:
    lo, hi = 0, len(values)
    while lo < hi:
        mid = (lo + hi) // 2
        if x < values[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


def analyse(frames: Iterable[tuple[np.ndarray, Fraction]], *, rate: Fraction,
            scene_threshold: Optional[float] = DEFAULT_SCENE_THRESHOLD,
            repeat_threshold: Optional[float] = DEFAULT_REPEAT_THRESHOLD, anchor: str = "fit") -> Timeline:
    """The :class:`Timeline` of a stream of ``(rgb, time)`` frames (times from the first frame, seconds).

    ``repeat_threshold=None`` makes every frame its own picture (nothing re-timed), for films whose frame rate
    does not change; ``anchor`` is :func:`retime`'s. The images are dropped as soon as they are analysed (memory ∝ number of frames, a few
    dozen bytes each).
    """
    times: list[Fraction] = []

    def recorded():
        for img, t in frames:
            times.append(t)
            yield img, t

    cuts: list[int] = []
    repeats: list[int] = []
    pictures = []
    grouped = group_pictures(recorded(), Analyser(scene_threshold, repeat_threshold), cuts, repeats)
    for p in retime(_forget_images(grouped), anchor):
        pictures.append(p)
    if not times:
        raise ValueError("analyse needs at least one frame")
    end = times[-1] + 1 / rate
    return Timeline(rate=rate, frame_times=times, end=end, start=Fraction(0), pictures=pictures, cuts=cuts,
                    repeats=repeats)


def _forget_images(pictures: Iterator[Picture]) -> Iterator[Picture]:
    """The same pictures without their image and thumbnail."""
    for p in pictures:
        p.image = p.thumb = None
        yield p
