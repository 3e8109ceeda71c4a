"""The worker process: its model backend, Redis (quota, cache, session keys), the metrics
endpoint, and the served model's revision that keys its cache."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Callable
from pathlib import Path

from config.settings import Settings
from runtime.metrics_http import serve_metrics
from runtime.service import run_marking_ready
from sealing.session_keys import SessionKeys
from streams.redis_client import make_redis
from workers.cache import CompletionCache
from workers.inference import InferenceError, LlmCompletions, TritonBackend
from workers.quota import QuotaGate
from workers.service import CompletionWorker

log = logging.getLogger("workers")


async def serve(settings: Settings, ready_file: str | None, index: int = 0) -> None:
    threshold = settings.model_threshold if settings.model_threshold >= 0 else None
    backend = (TritonBackend(settings.triton_grpc, settings.triton_model, threshold)
               if settings.triton_model_interface == "items" else
               LlmCompletions(settings.triton_grpc, settings.triton_model,
                              settings.triton_model_interface, settings.fim_template))
    redis_client = make_redis(settings.redis_url, bool(settings.redis_cluster))
    cache = CompletionCache(redis_client, settings.completion_cache_ttl_s)
    keys = SessionKeys(redis_client if settings.code_encryption else None,
                       settings.code_retention_ms)
    if not settings.model_revision:
        settings = settings.replace(model_revision=await model_revision(settings, backend))
    worker = CompletionWorker(settings, backend, QuotaGate(redis_client), cache, keys,
                              tasks=backend)
    log.info("model identity: %s", worker.model_identity)
    worker.metrics.gauge("worker_sessions", "sessions whose state this worker holds",
                         lambda: worker.session_count)
    worker.metrics.gauge("worker_next_edit_too_large", "pauses in documents too large for the "
                         "next-edit engine (no suggestion)", lambda: worker.next_edit_too_large)
    worker.metrics.gauge("worker_next_edit_failures", "next-edit engine runs that failed",
                         lambda: worker.next_edit_failures)
    def answers(outcome: str) -> Callable[[], float]:
        return lambda: worker.next_edit_model_answers[outcome]

    for outcome in ("suggested", "unchanged", "unparsed", "deadline", "failed", "no_backend"):
        worker.metrics.gauge(f"worker_next_edit_model_{outcome}",
                             f"answers of the next-edit model route: {outcome}", answers(outcome))
    worker.metrics.gauge("worker_bad_records", "editor events skipped as invalid",
                         lambda: worker.bad_records)
    worker.metrics.gauge("worker_unreadable_records", "editor events skipped because their "
                         "session's key was missing or did not open them",
                         lambda: worker.unreadable_records)
    metrics = await serve_metrics(worker.metrics, settings.worker_metrics_port + index,
                                  settings.metrics_host)
    try:
        await run_marking_ready(worker.run(), worker.ready, ready_file)
    finally:
        await metrics.cleanup()
        await backend.close()
        await redis_client.aclose()


async def model_revision(settings: Settings, backend: TritonBackend) -> str:
    """The served model's revision when ``MODEL_REVISION`` is not set: a digest of its files
    when the repository is here (the embedded Triton), else of the configuration and versions
    Triton reports (set ``MODEL_REVISION`` when weights change under the same configuration)."""
    directory = settings.triton_model_repository / settings.triton_model
    if settings.embedded_triton and directory.is_dir():
        return await asyncio.to_thread(embedded_revision, directory, settings.completion_model,
                                       settings.completion_fim_template)
    try:
        return await backend.config_digest()
    except InferenceError as error:
        log.warning("model revision unknown (%s): set MODEL_REVISION", error)
        return ""


def embedded_revision(directory: Path, completion_model: str, template: str) -> str:
    """The model directory's digest, with the network its config or ``COMPLETION_MODEL`` names
    and, when that file lies outside the directory (a brought model), the file itself."""
    named = configured_network(directory) or completion_model
    brought = directory / "1" / named if named else None  # an absolute path stays itself
    extra = brought if brought is not None and not brought.is_relative_to(directory) else None
    return directory_digest(directory, extra, named + template)


def configured_network(directory: Path) -> str:
    """The ``NETWORK`` config parameter of the model's config.pbtxt (empty when unset)."""
    try:
        config = (directory / "config.pbtxt").read_text()
    except OSError:
        return ""
    found = re.search(r'key:\s*"NETWORK"\s*value:\s*\{\s*string_value:\s*"([^"]*)"', config)
    return found.group(1).strip() if found else ""


def directory_digest(directory: Path, extra: Path | None = None, choice: str = "") -> str:
    """The model directory's files, a brought model's file (``extra``) and the choice of network
    and template (``choice``): any of them changed is a new revision."""
    digest = hashlib.sha256(choice.encode())
    for path in sorted(p for p in directory.rglob("*") if p.is_file()
                       and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(directory)).encode())
        with path.open("rb") as file:
            digest.update(hashlib.file_digest(file, "sha256").digest())
    if extra is not None and extra.is_file():
        with extra.open("rb") as file:
            digest.update(hashlib.file_digest(file, "sha256").digest())
    return digest.hexdigest()[:16]
