# wolkvox-exporter: the same install as the README and CI (pip install .), as a non-root user.
# An exact release of the base image, so a rebuild gets the same Python and Debian; bump it on
# purpose (the release workflow rebuilds from it for every tag).
FROM python:3.11.14-slim-bookworm

# The build context has no .git (see .dockerignore), so setuptools-scm cannot read the tag: the
# release workflow passes it, `docker build --build-arg SETUPTOOLS_SCM_PRETEND_VERSION=1.2.3 .`.
# Without it the image still builds, as version 0.0.0+unknown. RUN sees the ARG as a variable.
ARG SETUPTOOLS_SCM_PRETEND_VERSION

WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY exporter ./exporter
RUN pip install --no-cache-dir . && rm -rf /src

RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin wolkvox \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/wolkvox-exporter
# The persisted state (call spacing, quota wait, last snapshot) survives a new container.
ENV STATE_DIRECTORY=/var/lib/wolkvox-exporter
VOLUME /var/lib/wolkvox-exporter
USER 10001
WORKDIR /

EXPOSE 9870
# /healthz answers 200 while the exporter and its refreshers are alive; the check tries HTTP,
# then HTTPS (for --web.config.file with TLS). Another port, or mutual TLS: see
# `python -m exporter.healthcheck --help` and override the HEALTHCHECK.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-m", "exporter.healthcheck", "127.0.0.1:9870"]

ENTRYPOINT ["wolkvox-exporter"]
# Real credentials: mount a config and pass --config.file, or set WOLKVOX_SERVER and
# WOLKVOX_TOKEN_FILE. Without them, the image runs the built-in demo.
CMD ["--demo"]
