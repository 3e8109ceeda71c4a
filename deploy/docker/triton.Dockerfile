# Triton serving model/repository/ on CPU: NVIDIA's Triton image, our model repository and the
# Python packages its python-backend models import. The GPU variant is the same file built with
# --build-arg TRITON_TAG=25.01-py3 on a GPU node pool and tagged <tag>-gpu (the chart adds
# "-gpu" with triton.gpu); the python backend then sees the GPU through CUDA.
# Build from the repository root: docker build -f deploy/docker/triton.Dockerfile .
# Not in this image yet: find_bugs' compilers and linters (Go, gcc, a JDK, rustc, cppcheck,
# ShellCheck, oxlint); without them that route reports syntax errors and says which analyzer
# is missing (docs/TASKS.md).
ARG TRITON_TAG=25.01-py3
FROM nvcr.io/nvidia/tritonserver:${TRITON_TAG}
COPY requirements.lock requirements-runtime.txt /tmp/
RUN pip install --no-cache-dir -r /tmp/requirements.lock -r /tmp/requirements-runtime.txt \
    && rm /tmp/requirements.lock /tmp/requirements-runtime.txt
COPY model/repository/ /models/
# The task routes' models run the engines in tasks/ (which use schemas/ and documents/).
COPY schemas/ /opt/code-assistant/schemas/
COPY documents/ /opt/code-assistant/documents/
COPY tasks/ /opt/code-assistant/tasks/
ENV PYTHONPATH=/opt/code-assistant
# triton-server, the image's unprivileged user.
USER 1000
EXPOSE 8000 8001 8002
CMD ["tritonserver", "--model-repository=/models", "--strict-model-config=false"]
