"""The web process never loads the pixel libraries: they run in the pool processes only.

numpy, Pillow, PyAV and dlib would cost `facetag serve` ~20 MB of RSS that every upload it streams
shares the machine with. Checked in a fresh interpreter, since this test process imports them anyway.
"""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys

from handlers.media import ANALYZE_PHOTO
from handlers.video import ANALYZE_CLIP
from processing.pool import PixelJob, PixelPool

PIXEL_LIBRARIES = ("numpy", "PIL", "av", "dlib", "onnx", "onnxruntime")

_IMPORT_WEB_APP = """
import importlib, json, pkgutil, sys
import bot, handlers
for package in (bot, handlers):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_the_web_app_imports_no_pixel_library() -> None:
    out = subprocess.run([sys.executable, "-c", _IMPORT_WEB_APP], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert {"bot", "handlers", "aiohttp"} <= loaded  # the walk did import the app
    assert loaded.isdisjoint(PIXEL_LIBRARIES), sorted(loaded & set(PIXEL_LIBRARIES))


def test_pixel_jobs_name_the_pixel_functions() -> None:
    for job, takes in ((ANALYZE_PHOTO, ("/tmp/photo.jpg",)), (ANALYZE_CLIP, ("/tmp/clip.mp4",))):
        function = getattr(importlib.import_module(job.module), job.function)
        kwargs = {"max_seconds": 60.0} if job is ANALYZE_CLIP else {}
        inspect.signature(function).bind(*takes, **kwargs)  # the handler's call fits the function


async def test_a_pixel_job_runs_in_a_pool_process() -> None:
    pool = PixelPool(processes=1)
    try:
        join: PixelJob[str] = PixelJob("os.path", "join")
        assert await pool.run(join, "a", "b") == "a/b"
    finally:
        pool.close()
