;;; next_edit.el --- A next edit in real Emacs (batch) -*- lexical-binding: t; -*-
;; Rename a parameter, wait for the server's suggestion for its other uses, check its overlays,
;; jump to its first place, apply it with TAB, undo it in one step.  Run by
;; tests/test_ide_emacs.py.
(load (expand-file-name "harness.el" (file-name-directory load-file-name)) nil t)

(defun first-lines ()
  (save-excursion
    (goto-char (point-min))
    (split-string (buffer-substring-no-properties (point) (progn (forward-line 4) (point)))
                  "\n" t)))

(run-with-server
 (lambda ()
   (code-assistant-mode 1)
   ;; A completion first: the server's session to the edge is open (an edit made before it
   ;; opens reaches the worker as the document's first text, with nothing renamed in it).
   (jsonrpc-request (eglot-current-server) :textDocument/inlineCompletion
                    (append (eglot--TextDocumentPositionParams) '(:context (:triggerKind 1))))
   (goto-char (point-min))
   (search-forward "(number")
   (delete-region (- (point) 6) (point))
   (insert "count")
   (eglot--signal-textDocument/didChange)
   (wait-for "a next edit" (lambda () code-assistant--edit) 30)
   (push (cons 'suggestion_id (plist-get code-assistant--edit :suggestionId)) result)
   (push (cons 'rule (plist-get code-assistant--edit :rule)) result)
   (push (cons 'overlays (vconcat (mapcar (lambda (o) (vector (buffer-substring-no-properties
                                                               (overlay-start o) (overlay-end o))
                                                              (overlay-get o 'after-string)))
                                          code-assistant--edit-overlays)))
         result)
   (goto-char (point-min))
   (code-assistant-next-edit-location)
   (push (cons 'line_after_jump (line-number-at-pos)) result)
   (push (cons 'column_after_jump (current-column)) result)
   ;; The boundaries the command loop puts between commands (batch Emacs has none).
   (undo-boundary)
   (code-assistant-accept)
   (undo-boundary)
   (push (cons 'lines_after_accept (first-lines)) result)
   (setq last-command 'ignore)
   (undo)
   (push (cons 'lines_after_undo (first-lines)) result)
   (accept-process-output nil 1.0)))  ; the accepted feedback leaves before we quit
