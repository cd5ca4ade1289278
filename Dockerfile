# The c2c image: worker (default) or trigger API (`python starter.py serve`).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY canonical canonical
COPY connectors connectors
COPY activities activities
COPY workflows workflows
COPY store store
COPY codec codec
COPY sandbox sandbox
COPY demo demo
COPY bench bench
COPY worker.py starter.py settings.py control.py ./
RUN pip install --no-cache-dir .
CMD ["python", "worker.py"]
