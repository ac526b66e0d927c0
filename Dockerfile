# takedown-matcher HTTP service. Build: docker build -t takedown-matcher .
# Run:   docker run -p 8000:8000 -v takedown-data:/data takedown-matcher
# First key: docker run --rm -v takedown-data:/data takedown-matcher takedown keys create --role admin

# -- build: install the package and its wheels into a virtualenv ----------------------------------
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY matcher matcher
COPY index index
COPY app app
RUN /opt/venv/bin/pip install .

# -- runtime: the virtualenv only, as an unprivileged user ------------------------------------------
FROM python:3.11-slim
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home takedown \
    && mkdir -p /data && chown takedown:takedown /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TAKEDOWN_DATA_DIR=/data
USER takedown
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["takedown", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
