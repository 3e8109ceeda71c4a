"""Assistant tasks on the worker: their answers in the request lifecycle (``answers.py``), a task
model's items checked as frames (``items.py``, pure) and the prompts of LLM routes (``prompts.py``,
pure). The engines themselves are ``tasks/``, run inside the task routes' Triton models."""
