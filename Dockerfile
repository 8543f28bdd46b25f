FROM python:3.11-slim
RUN pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY occupancy ./occupancy
COPY web ./web
COPY migrations ./migrations
COPY alembic.ini ./
RUN uv sync --locked --no-dev
ENV PATH="/app/.venv/bin:$PATH"
EXPOSE 8000
CMD ["occupancy", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--no-migrate"]
