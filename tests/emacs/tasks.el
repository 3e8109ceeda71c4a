;;; tasks.el --- Drives real Emacs (batch) through the assistant tasks -*- lexical-binding: t; -*-
;; `code-assistant-task' runs "docs" (eglot applies the server's workspace/applyEdit) and
;; "explain" (Markdown in *code-assistant*).  Run by tests/test_ide_emacs.py.
(load (expand-file-name "harness.el" (file-name-directory load-file-name)) nil t)

(run-with-server
 (lambda ()
   (goto-char (point-min))
   (forward-char 5)
   (let ((docs (code-assistant-task "docs")))
     (push (cons 'docs_edits (plist-get docs :edits)) result))
   (wait-for "the docstring" #'docstring-there-p 10)
   (push (cons 'line_after_docs (docstring-line)) result)
   (goto-char (point-min))
   (forward-char 5)
   (code-assistant-task "explain")
   (push (cons 'explanation (with-current-buffer "*code-assistant*" (buffer-string))) result)))
