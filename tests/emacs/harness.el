;;; harness.el --- What every real-Emacs test script shares -*- lexical-binding: t; -*-
;; Loaded by the scripts beside it (run by tests/test_ide_emacs.py): open $FILE with
;; editors/emacs/code-assistant.el ($PLUGIN) and our language server ($SERVER, against
;; $EDGE_URL), run the script's steps, and write what they saw as JSON to $RESULT; exit 1 on
;; any error, with the error in the JSON.
(require (quote package))
(package-initialize)  ; Debian's elpa-eglot lives in the system package directory
(require (quote json))
(require 'python)
(defvar result nil)

(defun wait-for (what predicate seconds)
  (let ((deadline (+ (float-time) seconds)))
    (while (and (not (funcall predicate)) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (unless (funcall predicate)
      (error "Timed out waiting for %s" what))))

(defun docstring-there-p ()
  "Whether the line after the first opens a docstring (a docs edit was applied)."
  (save-excursion (goto-char (point-min)) (forward-line 1) (looking-at "    \"\"\"")))

(defun docstring-line ()
  "The line after the first: where a docs edit puts the docstring."
  (save-excursion (goto-char (point-min)) (forward-line 1)
                  (buffer-substring-no-properties (point) (line-end-position))))

(defun run-with-server (steps)
  "Open $FILE under eglot and our server, call STEPS, write `result' to $RESULT and exit."
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
        (funcall steps)
        (with-temp-file (getenv "RESULT") (insert (json-encode result)))
        (kill-emacs 0))
    (error
     (with-temp-file (getenv "RESULT")
       (insert (json-encode (cons (cons 'error (error-message-string err)) result))))
     (kill-emacs 1))))
