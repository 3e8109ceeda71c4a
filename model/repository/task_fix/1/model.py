"""Triton's entry point for the task_fix route; tasks/serving.py does the work."""

from tasks.serving import TaskModel as TritonPythonModel

__all__ = ["TritonPythonModel"]
