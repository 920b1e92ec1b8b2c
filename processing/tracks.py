"""Face tracks in sampled video frames, and their clustering into people ("appearances").

1. Tracking: detections in successive samples are linked to open tracks greedily by cost. A link needs
   the boxes to overlap (IoU) and the embeddings to be reasonably close when samples are dense, or the
   embeddings alone to be close when they are sparse (a face moves too far between distant samples).
   A track closes after a gap. Each track keeps its time span, its best face (highest quality) with a
   crop, and the normalised mean embedding of its few best faces.
2. Clustering: average-linkage agglomeration of track mean embeddings up to the engine's match
   threshold, never merging two tracks seen in the same frame (two faces at once are two people).
3. Each cluster becomes an `Appearance`: time segments (gaps below `merge_gap_s` bridged), best crop.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from processing.faces import Box, DetectedFace, Embedding
from processing.images import face_crop_box


@dataclass(frozen=True, slots=True)
class TrackerSettings:
    match_threshold: float  # the engine's: max cosine distance for "same person"
    iou_min: float = 0.2  # boxes must overlap this much to link on position (dense samples)
    # dlib embeddings of different people are often only 0.09-0.16 apart (cosine): links and merges stay
    # close to the calibrated threshold; only overlapping boxes in successive dense samples earn slack.
    overlap_distance_factor: float = 1.5  # with overlapping boxes, distance may reach factor x threshold
    sparse_distance_factor: float = 1.0  # without overlap, distance may reach factor x threshold
    dense_gap_s: float = 0.8  # samples at most this far apart count as dense (positions comparable)
    close_after_s: float = 2.0  # a track unseen for longer than max(this, 2.5 intervals) is closed
    cluster_distance_factor: float = 1.0  # clusters merge up to factor x threshold (mean embeddings)
    keep_best: int = 5  # faces averaged into a track's mean embedding
    min_detections: int = 2  # shorter tracks are dropped when samples are dense ...
    keep_quality: float = 0.3  # ... unless their best face is at least this good
    merge_gap_s: float = 2.0  # segments of one person closer than this are joined
    crop_margin: float = 0.4


@dataclass(frozen=True, slots=True)
class Appearance:
    cluster: int  # 0..n-1, in order of first appearance
    segments: tuple[tuple[float, float], ...]  # (start_s, end_s), sorted, disjoint
    crop: Image.Image  # the best face with margin, from the sampled frame
    embedding: Embedding  # of the best face (L2-normalised)
    mean_embedding: Embedding  # normalised mean over the cluster's best faces
    quality: float  # of the best face
    box: Box  # of the best face, in displayed full-resolution video pixels
    frame_time_s: float  # when the best face was seen
    tracks: int
    detections: int

    @property
    def seconds(self) -> float:
        return sum(end - start for start, end in self.segments)


@dataclass(slots=True)
class _Track:
    start_s: float
    end_s: float
    last_box: Box
    last_embedding: Embedding
    frames: list[int]
    best: list[tuple[float, int, Embedding]]  # heap of (quality, frame, embedding), the keep_best best
    best_face: DetectedFace
    best_time_s: float
    best_crop: Image.Image
    best_scale: float  # full-resolution pixels per sampled-frame pixel
    mean: Embedding = field(init=False)

    def __post_init__(self) -> None:
        self.mean = self.last_embedding

    def refresh_mean(self) -> None:
        vectors = np.stack([e for _, _, e in self.best])
        mean = vectors.mean(axis=0)
        self.mean = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


@dataclass(frozen=True, slots=True)
class BuiltAppearances:
    appearances: list[Appearance]
    tracks: int  # tracks kept (after dropping noise)


class Tracker:
    """Links detections of successive samples into tracks. Feed frames in time order with `add`."""

    def __init__(self, *, settings: TrackerSettings, interval_s: float) -> None:
        self.settings = settings
        self.interval_s = interval_s
        self._open: list[_Track] = []
        self._closed: list[_Track] = []
        self._frame = -1

    def add(self, *, time_s: float, image: Image.Image, faces: Sequence[DetectedFace], scale: float) -> None:
        self._frame += 1
        s = self.settings
        close_after = max(s.close_after_s, 2.5 * self.interval_s)
        still_open: list[_Track] = []
        for track in self._open:
            (still_open if time_s - track.end_s <= close_after else self._closed).append(track)
        self._open = still_open
        links = self._links(time_s, faces)
        used_tracks: set[int] = set()
        used_faces: set[int] = set()
        for _, ti, fi in sorted(links):
            if ti in used_tracks or fi in used_faces:
                continue
            used_tracks.add(ti)
            used_faces.add(fi)
            self._extend(self._open[ti], time_s=time_s, image=image, face=faces[fi], scale=scale)
        for fi, face in enumerate(faces):
            if fi not in used_faces:
                self._open.append(self._start(time_s=time_s, image=image, face=face, scale=scale))

    def finish(self) -> list[_Track]:
        tracks = self._closed + self._open
        self._open, self._closed = [], []
        return sorted(tracks, key=lambda t: (t.start_s, t.best_time_s))

    # ------------------------------------------------------------------------------------------ internals

    def _links(self, time_s: float, faces: Sequence[DetectedFace]) -> list[tuple[float, int, int]]:
        s = self.settings
        if not self._open or not faces:
            return []
        face_vectors = np.stack([f.embedding for f in faces])
        last = np.stack([t.last_embedding for t in self._open])
        means = np.stack([t.mean for t in self._open])
        distance = np.minimum(1.0 - last @ face_vectors.T, 1.0 - means @ face_vectors.T)
        links = []
        for ti, track in enumerate(self._open):
            dense = time_s - track.end_s <= max(s.dense_gap_s, 1.01 * self.interval_s) and (
                self.interval_s <= s.dense_gap_s
            )
            for fi, face in enumerate(faces):
                d = float(distance[ti, fi])
                iou = track.last_box.iou(face.box) if dense else 0.0
                if (iou >= s.iou_min and d <= s.overlap_distance_factor * s.match_threshold) or (
                    d <= s.sparse_distance_factor * s.match_threshold
                ):
                    links.append((d - 0.1 * iou, ti, fi))
        return links

    def _crop(self, image: Image.Image, box: Box) -> Image.Image:
        return image.crop(face_crop_box(image_size=image.size, box=box, margin=self.settings.crop_margin))

    def _start(self, *, time_s: float, image: Image.Image, face: DetectedFace, scale: float) -> _Track:
        return _Track(
            start_s=time_s,
            end_s=time_s,
            last_box=face.box,
            last_embedding=face.embedding,
            frames=[self._frame],
            best=[(face.quality, self._frame, face.embedding)],
            best_face=face,
            best_time_s=time_s,
            best_crop=self._crop(image, face.box),
            best_scale=scale,
        )

    def _extend(
        self, track: _Track, *, time_s: float, image: Image.Image, face: DetectedFace, scale: float
    ) -> None:
        track.end_s = time_s
        track.last_box = face.box
        track.last_embedding = face.embedding
        track.frames.append(self._frame)
        item = (face.quality, self._frame, face.embedding)
        if len(track.best) < self.settings.keep_best:
            heapq.heappush(track.best, item)
        else:
            heapq.heappushpop(track.best, item)
        track.refresh_mean()
        if face.quality > track.best_face.quality:
            track.best_face, track.best_time_s, track.best_scale = face, time_s, scale
            track.best_crop = self._crop(image, face.box)


def _keep(track: _Track, *, settings: TrackerSettings, interval_s: float) -> bool:
    if interval_s > settings.dense_gap_s:  # sparse samples: one sighting is all a person may get
        return True
    return len(track.frames) >= settings.min_detections or track.best_face.quality >= settings.keep_quality


def cluster_tracks(tracks: Sequence[_Track], *, max_distance: float) -> list[list[int]]:
    """Average-linkage clusters of track means (cosine distance <= `max_distance`); tracks that share a
    frame never end up together. Returns lists of track indexes."""
    n = len(tracks)
    if n == 0:
        return []
    means = np.stack([t.mean for t in tracks]).astype(np.float64)
    dist = 1.0 - means @ means.T
    frames = [set(t.frames) for t in tracks]
    apart = np.zeros((n, n), dtype=bool)
    for i in range(n):
        for j in range(i + 1, n):
            if tracks[i].start_s <= tracks[j].end_s and tracks[j].start_s <= tracks[i].end_s:
                apart[i, j] = apart[j, i] = not frames[i].isdisjoint(frames[j])
    sizes = np.ones(n)
    members: list[list[int]] = [[i] for i in range(n)]
    active = np.ones(n, dtype=bool)
    np.fill_diagonal(dist, np.inf)
    while True:
        masked = np.where(apart | ~active[:, None] | ~active[None, :], np.inf, dist)
        flat = int(np.argmin(masked))
        i, j = divmod(flat, n)
        if not np.isfinite(masked[i, j]) or masked[i, j] > max_distance:
            break
        merged = (sizes[i] * dist[i] + sizes[j] * dist[j]) / (sizes[i] + sizes[j])
        dist[i, :], dist[:, i] = merged, merged
        dist[i, i] = np.inf
        apart[i, :] |= apart[j, :]
        apart[:, i] = apart[i, :]
        sizes[i] += sizes[j]
        members[i].extend(members[j])
        members[j] = []
        active[j] = False
    return [sorted(m) for m in members if m]


def _segments(
    spans: Iterable[tuple[float, float]], *, pad_s: float, merge_gap_s: float, duration_s: float
) -> tuple[tuple[float, float], ...]:
    padded = sorted((max(0.0, a - pad_s), min(duration_s, b + pad_s)) for a, b in spans)
    out: list[tuple[float, float]] = []
    for start, end in padded:
        if out and start - out[-1][1] < merge_gap_s:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return tuple((round(a, 3), round(b, 3)) for a, b in out)


def build_appearances(
    frames: Iterable[tuple[float, Image.Image, Sequence[DetectedFace]]],
    *,
    settings: TrackerSettings,
    interval_s: float,
    duration_s: float,
    full_size: tuple[int, int],
) -> BuiltAppearances:
    """Track faces over (time, sampled frame, detections) in time order, cluster the tracks and
    describe each person. `full_size` is the displayed video size the boxes are mapped back to."""
    tracker = Tracker(settings=settings, interval_s=interval_s)
    for time_s, image, faces in frames:
        tracker.add(time_s=time_s, image=image, faces=faces, scale=full_size[0] / image.width)
    tracks = [t for t in tracker.finish() if _keep(t, settings=settings, interval_s=interval_s)]
    clusters = cluster_tracks(
        tracks, max_distance=settings.cluster_distance_factor * settings.match_threshold
    )
    people = []
    for members in clusters:
        group = [tracks[i] for i in members]
        best = max(group, key=lambda t: t.best_face.quality)
        vectors = np.stack([e for t in group for _, _, e in t.best])
        mean = vectors.mean(axis=0)
        people.append(
            (
                min(t.start_s for t in group),
                group,
                best,
                (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32),
            )
        )
    people.sort(key=lambda p: p[0])
    appearances = [
        Appearance(
            cluster=index,
            segments=_segments(
                ((t.start_s, t.end_s) for t in group),
                pad_s=interval_s / 2,
                merge_gap_s=settings.merge_gap_s,
                duration_s=duration_s,
            ),
            crop=best.best_crop,
            embedding=best.best_face.embedding,
            mean_embedding=mean,
            quality=best.best_face.quality,
            box=best.best_face.box.scaled(best.best_scale),
            frame_time_s=round(best.best_time_s, 3),
            tracks=len(group),
            detections=sum(len(t.frames) for t in group),
        )
        for index, (_, group, best, mean) in enumerate(people)
    ]
    return BuiltAppearances(appearances=appearances, tracks=len(tracks))
