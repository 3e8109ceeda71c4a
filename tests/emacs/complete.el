;;; complete.el --- Drives real Emacs (batch) with editors/emacs/code-assistant.el -*- lexical-binding: t; -*-
;; Type, wait for the ghost text, accept it.  Run by tests/test_ide_emacs.py.
(load (expand-file-name "harness.el" (file-name-directory load-file-name)) nil t)

(run-with-server
 (lambda ()
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
   (accept-process-output nil 1.0)))  ; the accepted feedback leaves before we quit
