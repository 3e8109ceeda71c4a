;;; tasks.el --- Drives real Emacs (batch) through the assistant tasks -*- lexical-binding: t; -*-
;; eglot starts our language server; `code-assistant-task' runs "docs" (eglot applies the
;; server's workspace/applyEdit) and "explain" (Markdown in *code-assistant*).
;; Writes what it saw as JSON to $RESULT; exits 1 on any error.  Run by tests/test_ide_emacs.py.
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
            ;; Batch Emacs cannot answer the confirmation prompt for server-initiated edits.
            eglot-confirm-server-initiated-edits nil)
      (code-assistant-setup '(python-mode))
      (find-file (getenv "FILE"))
      (python-mode)
      (apply #'eglot (eglot--guess-contact))
      (wait-for "the language server" #'eglot-current-server 30)
      (goto-char (point-min))
      (forward-char 5)
      (let ((docs (code-assistant-task "docs")))
        (push (cons 'docs_edits (plist-get docs :edits)) result))
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
      (goto-char (point-min))
      (forward-char 5)
      (code-assistant-task "explain")
      (push (cons 'explanation (with-current-buffer "*code-assistant*" (buffer-string))) result)
      (with-temp-file (getenv "RESULT") (insert (json-encode result)))
      (kill-emacs 0))
  (error
   (with-temp-file (getenv "RESULT")
     (insert (json-encode (cons (cons 'error (error-message-string err)) result))))
   (kill-emacs 1)))
