"""Where `../shared` is: the real photos and videos (`data/faces`) and the recorded platform payloads,
API references and schemas (`fixtures`) that the tests, the fakes and the benches read in place.

It lies beside the checkout (CI clones the repository next to a copy of it); `FACETAG_SHARED_DIR`
points elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

SHARED = Path(os.environ.get("FACETAG_SHARED_DIR") or Path(__file__).resolve().parents[3] / "shared")
FACES = SHARED / "data" / "faces"
FIXTURES = SHARED / "fixtures"
