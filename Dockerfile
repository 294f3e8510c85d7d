# The image `trainspec pipeline export` names: trainspec with its extras, CPU torch by default.
#
#   docker build -t registry.example/trainspec:cpu .
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu126 \
#       -t registry.example/trainspec:cu126 .
#   docker push registry.example/trainspec:cpu
#
# The project itself (specs, data scripts, run folders) is not baked in: pipeline tasks mount it
# at /workspace, the working directory (see docs/pipelines.md).
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim

# torch comes from its own index: the CPU build by default, a CUDA build with another index.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG EXTRAS=all

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /opt/trainspec
RUN pip install --no-cache-dir "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}"
COPY pyproject.toml README.md ./
COPY src ./src
# The project itself, at the version ranges its pyproject.toml states.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[${EXTRAS}]" \
    && trainspec --help > /dev/null

RUN useradd --create-home --uid 1000 trainspec
USER 1000
WORKDIR /workspace
CMD ["trainspec", "--help"]
