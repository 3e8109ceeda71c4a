"""Real Emacs (Debian's emacs-nox with eglot, in batch mode) with editors/emacs against the test
stack: eglot starts the language server, the ghost text appears, accepting it reaches ClickHouse."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from config.settings import Settings
from tests.real_editors import ROOT, accepted_rows, drive

pytestmark = pytest.mark.stack


async def test_emacs_eglot_gets_ghost_text_and_accepts_it(stack: Settings, tmp_path: Path) -> None:
    emacs = shutil.which("emacs")
    assert emacs, "Emacs is missing: `make install` installs emacs-nox and elpa-eglot"
    script = ROOT / "tests" / "emacs" / "complete.el"
    seen = await drive(stack, tmp_path, "emacs", [emacs, "--batch", "-q", "-l", str(script)])
    assert seen["suggestion"].startswith("it)"), seen
    assert seen["overlay"] == seen["suggestion"], "the suggestion was drawn as ghost text"
    assert seen["line_after_accept"].startswith("    for index in range(limit)"), seen
    assert await accepted_rows(stack, seen["request_id"]) == 1


async def test_emacs_runs_docs_and_explain(stack: Settings, tmp_path: Path) -> None:
    """``code-assistant-task``: eglot applies the docs edit the server sends, and the
    explanation arrives as Markdown."""
    emacs = shutil.which("emacs")
    assert emacs, "Emacs is missing: `make install` installs emacs-nox and elpa-eglot"
    script = ROOT / "tests" / "emacs" / "tasks.el"
    seen = await drive(stack, tmp_path, "emacs", [emacs, "--batch", "-q", "-l", str(script)])
    assert seen["docs_edits"] == ["Document fibonacci"], seen
    assert seen["line_after_docs"].startswith('    """'), seen
    assert seen["explanation"].startswith("### `fibonacci(number)`"), seen


#: The script of the test below (kept here, beside the test that reads its JSON).
TASK_AFTER_EDIT = r''';;; task_after_edit.el --- A task right after an edit -*- lexical-binding: t; -*-
;; eglot holds an edit back (its didChange waits for idle time); `code-assistant-task' run at
;; once must still get its docs edit applied: the server has to see the edit first, or eglot
;; refuses the edit for the version ("Edits on ... require version N, you have N+1").
;; Writes what it saw as JSON to $RESULT; exits 1 on any error.
(require (quote package))
(package-initialize)
(require (quote json))
(require 'python)
(defvar result nil)

(defun wait-for (what predicate seconds)
  (let ((deadline (+ (float-time) seconds)))
    (while (and (not (funcall predicate)) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (unless (funcall predicate)
      (error "Timed out waiting for %s" what))))

(condition-case err
    (progn
      (add-to-list 'load-path (getenv "PLUGIN"))
      (require 'code-assistant)
      (setq code-assistant-server-command (list (getenv "SERVER"))
            code-assistant-url (getenv "EDGE_URL")
            eglot-confirm-server-initiated-edits nil)
      (code-assistant-setup '(python-mode))
      (find-file (getenv "FILE"))
      (python-mode)
      (apply #'eglot (eglot--guess-contact))
      (wait-for "the language server" #'eglot-current-server 30)
      (goto-char (point-max))
      (insert "\n\n# edited just before the task\n")
      (goto-char (point-min))
      (forward-char 5)
      (let ((docs (code-assistant-task "docs")))
        (push (cons 'docs_edits (plist-get docs :edits)) result)
        (push (cons 'docs_applied (plist-get docs :applied)) result))
      (wait-for "the docstring" (lambda ()
                                  (save-excursion
                                    (goto-char (point-min))
                                    (forward-line 1)
                                    (looking-at "    \"\"\"")))
                10)
      (push (cons 'line_after_docs
                  (save-excursion (goto-char (point-min)) (forward-line 1)
                                  (buffer-substring-no-properties (point) (line-end-position))))
            result)
      (push (cons 'last_line
                  (save-excursion (goto-char (point-max)) (forward-line -1)
                                  (buffer-substring-no-properties (point) (line-end-position))))
            result)
      (with-temp-file (getenv "RESULT") (insert (json-encode result)))
      (kill-emacs 0))
  (error
   (with-temp-file (getenv "RESULT")
     (insert (json-encode (cons (cons 'error (error-message-string err)) result))))
   (kill-emacs 1)))
'''


async def test_emacs_runs_a_task_right_after_an_edit(stack: Settings, tmp_path: Path) -> None:
    """eglot sends an edit only once Emacs is idle: ``code-assistant-task`` run at once must
    flush it first, or eglot refuses the task's edit as made for an older version."""
    emacs = shutil.which("emacs")
    assert emacs, "Emacs is missing: apt-get install -y emacs-nox elpa-eglot (.ci/run does)"
    script = tmp_path / "task_after_edit.el"
    script.write_text(TASK_AFTER_EDIT)
    seen = await drive(stack, tmp_path, "emacs", [emacs, "--batch", "-q", "-l", str(script)])
    assert seen["docs_edits"] == ["Document fibonacci"] and seen["docs_applied"] is True, seen
    assert seen["line_after_docs"].startswith('    """'), seen
    assert seen["last_line"] == "# edited just before the task", seen
