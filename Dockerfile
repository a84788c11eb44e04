# syntax=docker/dockerfile:1
# csledger API image. Migrations are not run here: run `csledger migrate` once per deployment
# (e.g. `docker run --rm <image> csledger migrate`) before starting or scaling the replicas.

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
# Editable on purpose: the code stays in /app (copied by the runtime stage), where
# app/core/migrations.py finds alembic.ini and migrations/, two directories above itself.
# Installed against a placeholder package, so a code change does not rebuild this layer.
COPY pyproject.toml constraints.txt README.md ./
RUN mkdir app && touch app/__init__.py \
    && pip install -c constraints.txt -e . \
    && rm -rf app

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CSLEDGER_ENVIRONMENT=production
RUN groupadd --system csledger \
    && useradd --system --gid csledger --home-dir /app --no-create-home csledger
WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
COPY pyproject.toml alembic.ini ./
COPY migrations ./migrations
COPY app ./app
# Only var/ is writable, for a development run on SQLite (CSLEDGER_ENVIRONMENT=development).
RUN mkdir var && chown csledger:csledger var
USER csledger
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('CSLEDGER_PORT', '8000') + '/healthz', timeout=4)"]
CMD ["csledger", "serve", "--host", "0.0.0.0"]
