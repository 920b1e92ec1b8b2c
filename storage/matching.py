"""Face matching: which stored faces look like this one.

`FaceMatcher` is all recognition (`handlers/recognition.py`) asks of the place where face signatures
live. The local engine keeps dlib's 128-d embeddings in the faces table and answers with pgvector
(`storage.faces.PgvectorMatcher`, HNSW). A hosted engine replaces it by configuration
(`FACETAG_FACE_ENGINE`): an AWS Rekognition matcher would answer `nearest` with SearchFaces on its
collection (faces indexed by IndexFaces with our face id as ExternalImageId), turning similarity into
distance (`1 - similarity / 100`) and reading state, person and cluster from the faces table.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Face, FaceState


@dataclass(frozen=True, slots=True)
class Neighbour:
    face_id: uuid.UUID
    media_id: uuid.UUID
    person_id: uuid.UUID | None
    cluster_id: uuid.UUID | None
    state: FaceState
    distance: float  # 0 = the same signature; `threshold` and below = the same person


class FaceMatcher(Protocol):
    @property
    def name(self) -> str: ...  # the FACETAG_FACE_ENGINE value it serves

    @property
    def threshold(self) -> float: ...  # calibrated largest distance at which two faces are the same person

    async def nearest(
        self,
        session: AsyncSession,
        *,
        face: Face,
        limit: int,
        max_distance: float,
        confirmed_only: bool = False,
        exclude_media: uuid.UUID | None = None,
        among: Collection[uuid.UUID] | None = None,
    ) -> list[Neighbour]:
        """Up to `limit` other faces within `max_distance` of `face`, closest first; only confirmed
        ones, only outside one media, or only among the given face ids when asked."""
        ...
