# Slim, non-root image of the bot: `bot serve --no-worker` by default; run the same
# image as `bot worker` for workers (see Procfile). Needs DATABASE_URL in production.
#
# The project is installed editable from /app because migrations/ and bots/ are
# found next to the package (bot/db/migrate.py, bot/settings/__init__.py).
FROM python:3.12-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-compile -e .

FROM python:3.12-slim
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 PORT=8000 DATA_DIR=/app/.data
RUN groupadd --system bot && useradd --system --gid bot --home-dir /app bot
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY migrations ./migrations
COPY bots ./bots
RUN mkdir -p /app/.data && chown bot:bot /app/.data
USER bot
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/healthz', timeout=4)"]
CMD ["bot", "serve", "--no-worker"]
