"""The face engine's calibrated match threshold, for the web process (which never loads the engine)."""

from __future__ import annotations

# Calibrated with `.venv/bin/python -m bench.calibrate` on the shared identities (96 images, 319 genuine
# and 4241 impostor pairs, cosine distance of L2-normalised embeddings): best recall with precision
# >= 0.99 -> 0.075 (precision 0.994, recall 1.0; genuine max 0.070, impostor min 0.069, 1 % 0.111).
# Raw dlib vectors have norm ~1.4, so this is about Euclidean 0.55: a little stricter than dlib's usual 0.6.
DEFAULT_MATCH_THRESHOLD = 0.075
