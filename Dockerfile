# loadkit in a container: the reference target, the fault proxy and Locust
# (master or worker). Runs with host networking only (see docker-compose.yml).
#
#   docker build -t loadkit .                                   # python:3.12-slim, deps from PyPI
#   docker build --build-arg BASE_IMAGE=loadkit-base -t loadkit .  # offline: wheels/ built on the host
#
# With BASE_IMAGE=loadkit-base (a debootstrap Debian with python3 + python3-venv,
# see scripts/docker-setup.sh) the project is installed from the wheels in
# wheels/ with --no-index, so the build needs no network.
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/loadkit/bin:$PATH

COPY . /src
RUN python3 -m venv /opt/loadkit \
 && if ls /src/wheels/*.whl >/dev/null 2>&1; then \
      /opt/loadkit/bin/pip install -q --no-index --find-links /src/wheels loadkit; \
    else \
      /opt/loadkit/bin/pip install -q --no-cache-dir /src; \
    fi \
 && mkdir -p /app/reports \
 && cp -r /src/locustfiles /src/scenarios /app/ \
 && rm -rf /src

WORKDIR /app
# Run directories land here; bind-mount it to get them on the host.
VOLUME ["/app/reports"]
CMD ["loadkit", "--help"]
