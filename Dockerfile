# Rujukan: one image, every service (the command picks one: referral serve, relay run, tracker serve,
# notifier run, audit replay ...). Slim, non-root, pinned.
FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY services ./services
COPY schemas ./schemas
RUN python -m venv /opt/rujukan && /opt/rujukan/bin/pip install --no-compile . \
    && /opt/rujukan/bin/rujukan schemas check

FROM python:3.11.11-slim-bookworm
LABEL org.opencontainers.image.title="rujukan" \
      org.opencontainers.image.description="Multi-agency referral message broker" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 rujukan \
    && useradd --system --uid 10001 --gid rujukan --home-dir /var/lib/rujukan --create-home rujukan
COPY --from=build /opt/rujukan /opt/rujukan
ENV PATH=/opt/rujukan/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    RUJUKAN_DATA_DIR=/var/lib/rujukan
USER 10001:10001
WORKDIR /var/lib/rujukan
ENTRYPOINT ["rujukan"]
CMD ["--help"]
