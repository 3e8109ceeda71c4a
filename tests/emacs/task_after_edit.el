;;; task_after_edit.el --- A task right after an edit -*- lexical-binding: t; -*-
;; eglot holds an edit back (its didChange waits for idle time); `code-assistant-task' run at
;; once must still get its docs edit applied: the server has to see the edit first, or eglot
;; refuses the edit for the version ("Edits on ... require version N, you have N+1").
;; Run by tests/test_ide_emacs.py.
(load (expand-file-name "harness.el" (file-name-directory load-file-name)) nil t)

(run-with-server
 (lambda ()
   (goto-char (point-max))
   (insert "\n\n# edited just before the task\n")
   (goto-char (point-min))
   (forward-char 5)
   (let ((docs (code-assistant-task "docs")))
     (push (cons 'docs_edits (plist-get docs :edits)) result)
     (push (cons 'docs_applied (plist-get docs :applied)) result))
   (wait-for "the docstring" #'docstring-there-p 10)
   (push (cons 'line_after_docs (docstring-line)) result)
   (push (cons 'last_line
               (save-excursion (goto-char (point-max)) (forward-line -1)
                               (buffer-substring-no-properties (point) (line-end-position))))
         result)))
