# The c2c image: the worker (`python worker.py`, the default) and the trigger API (`python starter.py serve`).
# No settings or secrets inside: everything comes from the environment at run time (docker-compose.yml and
# docs/deploy.md). Sources are copied one by one, never `COPY . .`, so a local .env, var/ or deploy/secrets/
# cannot end up in a layer.
# The interpreter CI tests with (.venv, .ci/run).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY canonical canonical
COPY connectors connectors
COPY activities activities
COPY workflows workflows
COPY store store
COPY broker broker
COPY revenue_ops revenue_ops
COPY codec codec
COPY observability observability
COPY reconcile reconcile
COPY sandbox sandbox
COPY demo demo
COPY bench bench
COPY chaos chaos
COPY operations operations
COPY api api
COPY cli cli
COPY runtime runtime
COPY estate estate
COPY settings settings
COPY worker.py starter.py ./
COPY deploy/healthcheck.py deploy/healthcheck.py
RUN pip install . \
    && useradd --system --uid 10001 --no-create-home --home-dir /app c2c

# Unprivileged: the processes only read their code and a mounted secret, and talk over the network.
USER 10001
CMD ["python", "worker.py"]
