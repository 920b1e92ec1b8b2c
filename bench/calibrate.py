"""Calibrate `DlibEngine.match_threshold` (cosine distance) on the shared identities.

    .venv/bin/python -m bench.calibrate [--min-precision 0.99]

Every image of identities.csv is embedded with `DlibEngine.analyze` (largest face; aligned chips are
detected too, with `analyze_crop` as fallback). Byte-identical files are used once. Genuine pairs: two
images of the same source-prefixed identity. Impostor pairs: different identities, except pairs from two
sources whose names match (identities are never merged across sources, so "same name, other source"
counts as neither). A pair is predicted "same person" when its distance is <= the threshold. Prints a
precision / recall / F1 table and picks the threshold with the best recall among those with precision
>= --min-precision. Last line: `RESULT {json}`.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
from dataclasses import dataclass

import numpy as np

from bench.common import DATA_DIR, IdentityImage, identity_images, load_rgb
from processing.faces import DlibEngine, Embedding, cosine_distance


@dataclass(frozen=True, slots=True)
class Row:
    threshold: float
    precision: float
    recall: float
    f1: float
    false_matches: int


def embed_all(
    *, engine: DlibEngine, images: list[IdentityImage]
) -> tuple[dict[IdentityImage, Embedding], int]:
    """Embedding per image (largest face), skipping byte-identical duplicates; also returns how many
    images had no detectable face and fell back to treating the whole image as the face."""
    seen: set[str] = set()
    out: dict[IdentityImage, Embedding] = {}
    fallbacks = 0
    for item in images:
        digest = hashlib.sha256(item.path.read_bytes()).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        image = load_rgb(item.path)
        faces = engine.analyze(image)
        if faces:
            out[item] = max(faces, key=lambda f: f.box.area).embedding
        else:
            fallbacks += 1
            out[item] = engine.analyze_crop(image).embedding
    return out, fallbacks


def _name(identity: str) -> str:
    return identity.split(":", 1)[1].lower().replace("_", " ").replace("-", " ")


def pair_distances(embeddings: dict[IdentityImage, Embedding]) -> tuple[list[float], list[float]]:
    genuine, impostor = [], []
    for a, b in itertools.combinations(embeddings, 2):
        d = cosine_distance(embeddings[a], embeddings[b])
        if a.identity == b.identity:
            genuine.append(d)
        elif _name(a.identity) != _name(b.identity):
            impostor.append(d)
    return genuine, impostor


def table(*, genuine: list[float], impostor: list[float], thresholds: list[float]) -> list[Row]:
    g, i = np.asarray(genuine), np.asarray(impostor)
    rows = []
    for t in thresholds:
        tp, fp = int((g <= t).sum()), int((i <= t).sum())
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / len(g) if len(g) else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append(Row(round(t, 4), precision, recall, f1, fp))
    return rows


def choose(rows: list[Row], *, min_precision: float) -> Row:
    ok = [r for r in rows if r.precision >= min_precision]
    if not ok:
        raise SystemExit(f"no threshold reaches precision {min_precision}")
    return max(ok, key=lambda r: (r.recall, -r.threshold))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--min-precision", type=float, default=0.99)
    args = parser.parse_args()

    engine = DlibEngine()
    embeddings, fallbacks = embed_all(engine=engine, images=identity_images(data_dir=DATA_DIR))
    genuine, impostor = pair_distances(embeddings)
    thresholds = [round(0.02 + 0.005 * k, 4) for k in range(37)]  # 0.02 .. 0.20
    rows = table(genuine=genuine, impostor=impostor, thresholds=thresholds)
    print(f"images={len(embeddings)} (no face detected, whole image used: {fallbacks}) ")
    print(f"genuine pairs={len(genuine)} impostor pairs={len(impostor)}")
    g95, i01 = np.percentile(genuine, 95), np.percentile(impostor, 1)
    print(f"genuine distance: median {np.median(genuine):.4f}, 95% {g95:.4f}, max {max(genuine):.4f}")
    print(f"impostor distance: min {min(impostor):.4f}, 1% {i01:.4f}, median {np.median(impostor):.4f}")
    print(f"{'threshold':>9} {'precision':>9} {'recall':>7} {'F1':>6} {'false':>6}")
    for r in rows:
        print(f"{r.threshold:9.3f} {r.precision:9.4f} {r.recall:7.4f} {r.f1:6.4f} {r.false_matches:6d}")
    best = choose(rows, min_precision=args.min_precision)
    best_f1 = max(rows, key=lambda r: r.f1)
    result = {
        "threshold": best.threshold,
        "precision": round(best.precision, 4),
        "recall": round(best.recall, 4),
        "f1": round(best.f1, 4),
        "min_precision": args.min_precision,
        "best_f1_threshold": best_f1.threshold,
        "best_f1": round(best_f1.f1, 4),
        "images": len(embeddings),
        "genuine_pairs": len(genuine),
        "impostor_pairs": len(impostor),
        "current_default": engine.match_threshold,
    }
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
