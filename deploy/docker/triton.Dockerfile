# Triton serving model/repository/ on CPU: NVIDIA's Triton image, our model repository, the
# Python packages its python-backend models import, and the compilers and analyzers the task
# routes run (find_bugs, fix, tests: gcc/g++, cppcheck, ShellCheck, Go with staticcheck, a JDK
# with Error Prone, Rust with Clippy, oxlint and tsc). The GPU variant is the same file built
# with --build-arg TRITON_TAG=25.01-py3 on a GPU node pool and tagged <tag>-gpu (the chart adds
# "-gpu" with triton.gpu); the python backend then sees the GPU through CUDA.
# Build from the repository root: docker build -f deploy/docker/triton.Dockerfile .
# The analyzers' versions are make install's (tests/test_deploy.py keeps them equal): the npm
# lock and the Maven pom are copied, not restated. Each analyzer sits where tasks/ looks for it
# (tasks/../.stack/vendor/...), so the code runs as it does on one machine.
ARG TRITON_TAG=25.01-py3
ARG GO_IMAGE=golang:1.26-bookworm
ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG JDK_IMAGE=maven:3.9-eclipse-temurin-17
ARG NODE_IMAGE=node:20-bookworm-slim
ARG STATICCHECK_VERSION=v0.8.2

# oxlint and TypeScript 7's tsc, from infra/analyzers' lock (npm checks every integrity hash).
FROM ${NODE_IMAGE} AS analyzers
WORKDIR /src
COPY infra/analyzers/package.json infra/analyzers/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# staticcheck, at make install's pin, with the Go toolchain it needs at run time.
FROM ${GO_IMAGE} AS go
ARG STATICCHECK_VERSION
RUN GOBIN=/out go install "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}"

# Error Prone's jars from infra/errorprone/pom.xml (Maven checks every checksum), and the JDK.
FROM ${JDK_IMAGE} AS java
WORKDIR /src
COPY infra/errorprone/pom.xml ./
RUN mvn -B -q -C dependency:copy-dependencies -DoutputDirectory=/out -DincludeScope=runtime

# rustc with Clippy's driver.
FROM ${RUST_IMAGE} AS rust
RUN rustup component add clippy

FROM nvcr.io/nvidia/tritonserver:${TRITON_TAG}
# The distribution's compilers and analyzers (Ubuntu, as the Triton release ships it): their
# versions are the release's, so they are not pinned here.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc g++ cppcheck shellcheck \
    && rm -rf /var/lib/apt/lists/*
COPY --from=go /usr/local/go /usr/local/go
COPY --from=java /opt/java/openjdk /opt/java/openjdk
COPY --from=rust /usr/local/rustup /usr/local/rustup
COPY --from=rust /usr/local/cargo /usr/local/cargo
COPY --from=analyzers /usr/local/bin/node /usr/local/bin/node
ENV RUSTUP_HOME=/usr/local/rustup \
    PATH=/usr/local/cargo/bin:/usr/local/go/bin:/opt/java/openjdk/bin:$PATH \
    PYTHONPATH=/opt/code-assistant
COPY requirements.lock requirements-runtime.txt /tmp/
RUN pip install --no-cache-dir -r /tmp/requirements.lock -r /tmp/requirements-runtime.txt \
    && rm /tmp/requirements.lock /tmp/requirements-runtime.txt
COPY --from=analyzers /src/node_modules /opt/code-assistant/.stack/vendor/analyzers/node_modules
COPY --from=go /out/staticcheck /opt/code-assistant/.stack/vendor/bin/staticcheck
COPY --from=java /out /opt/code-assistant/.stack/vendor/errorprone/libs
COPY model/repository/ /models/
# The task routes' models run the engines in tasks/ (which use schemas/ and documents/).
COPY schemas/ /opt/code-assistant/schemas/
COPY documents/ /opt/code-assistant/documents/
COPY tasks/ /opt/code-assistant/tasks/
# triton-server, the image's unprivileged user.
USER 1000
EXPOSE 8000 8001 8002
CMD ["tritonserver", "--model-repository=/models", "--strict-model-config=false"]
