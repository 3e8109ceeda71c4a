;;; complete.el --- Drives real Emacs (batch) with editors/emacs/code-assistant.el -*- lexical-binding: t; -*-
;; Open a file, let eglot start our language server, type, wait for the ghost text, accept it.
;; Writes what it saw as JSON to $RESULT; exits 1 on any error.  Run by tests/test_ide_emacs.py.
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

(condition-case err
    (progn
      (add-to-list 'load-path (getenv "PLUGIN"))
      (require 'code-assistant)
      (setq code-assistant-server-command (list (getenv "SERVER"))
            code-assistant-url (getenv "EDGE_URL"))
      (code-assistant-setup '(python-mode))
      (find-file (getenv "FILE"))
      (python-mode)
      (apply #'eglot (eglot--guess-contact))
      (wait-for "the language server" #'eglot-current-server 30)
      (code-assistant-mode 1)
      (goto-char (point-max))
      (insert "m")
      (code-assistant-request)
      (wait-for "ghost text" #'code-assistant-suggestion 30)
      (push (cons 'suggestion (code-assistant-suggestion)) result)
      (push (cons 'request_id
                  (plist-get (aref (plist-get (plist-get code-assistant--item :command)
                                              :arguments) 0)
                             :requestId))
            result)
      (push (cons 'overlay (and code-assistant--overlay
                                (overlay-get code-assistant--overlay 'after-string)))
            result)
      (code-assistant-accept)
      (push (cons 'line_after_accept
                  (buffer-substring-no-properties (line-beginning-position) (line-end-position)))
            result)
      (accept-process-output nil 1.0)  ; the accepted feedback leaves before we quit
      (with-temp-file (getenv "RESULT") (insert (json-encode result)))
      (kill-emacs 0))
  (error
   (with-temp-file (getenv "RESULT")
     (insert (json-encode (cons (cons 'error (error-message-string err)) result))))
   (kill-emacs 1)))
