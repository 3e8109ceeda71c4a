;;; code-assistant.el --- Self-hosted code completion through eglot -*- lexical-binding: t; -*-

;; Package-Requires: ((emacs "28.1") (eglot "1.9"))

;;; Commentary:

;; Starts the code assistant's language server with eglot (built into Emacs 29; the
;; `elpa-eglot' package on Debian's Emacs 28) and shows its inline completion as ghost text
;; while you type.  TAB accepts (and tells the server, for analytics), C-g or typing on
;; dismisses.  Classic completion (`completion-at-point') is answered by the server as well.
;;
;;   (add-to-list 'load-path "/path/to/checkout/editors/emacs")
;;   (require 'code-assistant)
;;   (setq code-assistant-server-command
;;         '("/path/to/checkout/editors/bin/code-assistant-ls"))
;;   (setq code-assistant-url "ws://127.0.0.1:8765")   ; or CODE_ASSISTANT_URL
;;   (code-assistant-setup '(python-mode js-mode go-mode rust-mode))
;;
;; Next edits: after an edit that implies others (a renamed parameter's other uses), the server
;; pushes a suggestion; each place it changes is highlighted with its new text after it.  TAB
;; (with no ghost text) or `code-assistant-accept-edit' applies all of it as one undo step,
;; `code-assistant-next-edit-location' (C-c C-n) moves to its next place,
;; `code-assistant-reject-edit' drops it; any edit of the buffer drops it too.
;;
;; The API key comes from CODE_ASSISTANT_API_KEY or CODE_ASSISTANT_API_KEY_FILE in Emacs's
;; environment, or from `code-assistant-api-key-file'; never from this file.
;; eglot runs one server per buffer: in these modes it replaces any other language server.

;;; Code:

(require 'cl-lib)
(require 'eglot)
(require 'jsonrpc)
(require 'seq)

(defgroup code-assistant nil
  "Self-hosted code completion."
  :group 'tools)

(defcustom code-assistant-server-command '("code-assistant-ls")
  "The language server's command line (editors/bin/code-assistant-ls in a checkout)."
  :type '(repeat string))

(defcustom code-assistant-url nil
  "The edge's WebSocket URL; nil: CODE_ASSISTANT_URL, else ws://127.0.0.1:8765."
  :type '(choice (const nil) string))

(defcustom code-assistant-api-key-file nil
  "A file holding the API key; nil: the server's environment."
  :type '(choice (const nil) file))

(defcustom code-assistant-idle-delay 0.075
  "Seconds of typing pause before a suggestion is asked for."
  :type 'number)

(defface code-assistant-ghost '((t :inherit shadow))
  "Face of the suggested text.")

(defclass code-assistant-server (eglot-lsp-server) ()
  :documentation "The code assistant's language server.")

(defcustom code-assistant-next-edits t
  "Whether to ask for next-edit suggestions and draw them."
  :type 'boolean)

(cl-defmethod eglot-initialization-options ((_server code-assistant-server))
  "Only what is set here; the server's environment fills the rest."
  (append (list :client "emacs"
                :nextEdits (if code-assistant-next-edits t :json-false)
                :nextEditNotifications (if code-assistant-next-edits t :json-false))
          (and code-assistant-url (list :url code-assistant-url))
          (and code-assistant-api-key-file
               (list :apiKeyFile (expand-file-name code-assistant-api-key-file)))))

(defun code-assistant--contact (&optional _interactive)
  "How eglot starts our server."
  (cons 'code-assistant-server code-assistant-server-command))

(defvar-local code-assistant--overlay nil "The ghost text on screen.")
(defvar-local code-assistant--item nil "The LSP InlineCompletionItem on screen.")
(defvar-local code-assistant--timer nil "The pending request's idle timer.")
(defvar-local code-assistant--tick 0 "Counts requests: an older answer is stale.")

(defun code-assistant--report (item kind)
  "Tell the server what became of ITEM: KIND is \"accepted\" or \"rejected\"."
  (let* ((command (plist-get item :command))
         (args (and command (plist-get command :arguments)))
         (server (eglot-current-server)))
    (when (and server args)
      (let ((arg (copy-sequence (aref args 0))))
        (setq arg (plist-put arg :kind kind))
        (jsonrpc-async-request server :workspace/executeCommand
                               (list :command (plist-get command :command)
                                     :arguments (vector arg))
                               :success-fn #'ignore :error-fn #'ignore)))))

(defun code-assistant--clear ()
  (when code-assistant--overlay
    (delete-overlay code-assistant--overlay))
  (setq code-assistant--overlay nil code-assistant--item nil))

(defun code-assistant-dismiss ()
  "Remove the suggestion and report it rejected."
  (interactive)
  (let ((item code-assistant--item))
    (code-assistant--clear)
    (when item
      (code-assistant--report item "rejected"))))

(defun code-assistant-suggestion ()
  "The suggested text on screen, or nil."
  (and code-assistant--item (plist-get code-assistant--item :insertText)))

(defun code-assistant--show (buffer point item)
  (with-current-buffer buffer
    (code-assistant--clear)
    (let ((overlay (make-overlay point point nil nil t))
          (text (plist-get item :insertText)))
      (overlay-put overlay 'after-string
                   (propertize text 'face 'code-assistant-ghost 'cursor t))
      (setq code-assistant--overlay overlay code-assistant--item item))))

(defun code-assistant-request ()
  "Ask the server for a suggestion at point."
  (interactive)
  (let ((server (eglot-current-server))
        (buffer (current-buffer))
        (point (point))
        (tick (cl-incf code-assistant--tick)))
    (when server
      (eglot--signal-textDocument/didChange)  ; the server must see the keystroke first
      (jsonrpc-async-request
       server :textDocument/inlineCompletion
       (append (eglot--TextDocumentPositionParams) '(:context (:triggerKind 2)))
       :success-fn
       (lambda (result)
         (when (buffer-live-p buffer)
           (with-current-buffer buffer
             (let* ((items (if (vectorp result) result (plist-get result :items)))
                    (item (and items (> (length items) 0) (aref items 0))))
               (when (and item (= tick code-assistant--tick) (= point (point))
                          (not (equal (plist-get item :insertText) "")))
                 (code-assistant--show buffer point item))))))
       :error-fn #'ignore))))

(defun code-assistant-accept ()
  "Insert the suggestion at point and report it accepted; else apply the next edit on
screen; TAB otherwise."
  (interactive)
  (let ((item code-assistant--item))
    (cond (item
           (code-assistant--clear)
           (insert (plist-get item :insertText))
           (code-assistant--report item "accepted"))
          (code-assistant--edit (code-assistant-accept-edit))
          (t (indent-for-tab-command)))))

;;; Next edits

(defface code-assistant-edit '((t :inherit shadow :strike-through t))
  "Text a next edit would replace.")

(defface code-assistant-edit-new '((t :inherit success))
  "The text a next edit would put there.")

(defvar-local code-assistant--edit nil
  "The next-edit suggestion on screen: the server's codeAssistant/nextEdit params.")
(defvar-local code-assistant--edit-overlays nil "Its overlays, in buffer order.")

(defun code-assistant--edit-feedback (suggestion-id kind)
  "Tell the server what became of next edit SUGGESTION-ID: KIND is \"shown\", \"accepted\"..."
  (let ((server (eglot-current-server)))
    (when server
      (jsonrpc-async-request server :workspace/executeCommand
                             (list :command "codeAssistant.nextEditFeedback"
                                   :arguments (vector (list :suggestionId suggestion-id
                                                            :kind kind)))
                             :success-fn #'ignore :error-fn #'ignore))))

(defun code-assistant--clear-edit ()
  "Remove the next edit on screen; return it."
  (mapc #'delete-overlay code-assistant--edit-overlays)
  (setq code-assistant--edit-overlays nil)
  (prog1 code-assistant--edit (setq code-assistant--edit nil)))

(defun code-assistant--edit-stale (&rest _)
  "Any change of the buffer leaves the next edit for a text that is gone (the server reports
it dismissed)."
  (when code-assistant--edit
    (code-assistant--clear-edit)))

(cl-defmethod eglot-handle-notification
  ((_server code-assistant-server) (_method (eql codeAssistant/nextEdit))
   &rest params &key uri version edits suggestionId &allow-other-keys)
  "Draw a next-edit suggestion if its buffer is at the version it is for."
  (let ((buffer (find-buffer-visiting (eglot--uri-to-path uri))))
    (when buffer
      (with-current-buffer buffer
        (when (equal version eglot--versioned-identifier)
          (code-assistant--clear-edit)
          (let (overlays)
            (seq-doseq (edit edits)
              (pcase-let ((`(,beg . ,end) (eglot--range-region (plist-get edit :range))))
                (let ((overlay (make-overlay beg end nil t nil)))
                  (overlay-put overlay 'face 'code-assistant-edit)
                  (overlay-put overlay 'after-string
                               (propertize (plist-get edit :newText)
                                           'face 'code-assistant-edit-new))
                  (push overlay overlays))))
            (setq code-assistant--edit-overlays (nreverse overlays)))
          (setq code-assistant--edit params)
          (code-assistant--edit-feedback suggestionId "shown"))))))

(defun code-assistant-accept-edit ()
  "Apply the next edit on screen as one undo step and report it accepted.
Returns non-nil when it was applied."
  (interactive)
  (let ((edit (code-assistant--clear-edit)))
    (cond ((not edit) (message "code assistant: no next edit here") nil)
          ((not (equal (plist-get edit :version) eglot--versioned-identifier))
           (message "code assistant: the buffer changed since that edit was suggested") nil)
          (t (eglot--apply-text-edits (plist-get edit :edits) (plist-get edit :version))
             (code-assistant--edit-feedback (plist-get edit :suggestionId) "accepted")
             t))))

(defun code-assistant-reject-edit ()
  "Drop the next edit on screen and report it rejected."
  (interactive)
  (let ((edit (code-assistant--clear-edit)))
    (when edit
      (code-assistant--edit-feedback (plist-get edit :suggestionId) "rejected"))))

(defun code-assistant-next-edit-location ()
  "Move to the next place the next edit on screen changes (the first after the last)."
  (interactive)
  (let* ((starts (mapcar #'overlay-start code-assistant--edit-overlays))
         (target (or (seq-find (lambda (start) (> start (point))) starts) (car starts))))
    (if target
        (goto-char target)
      (message "code assistant: no next edit here"))))

(defun code-assistant--after-command ()
  (unless (memq this-command '(code-assistant-accept code-assistant-request))
    (when code-assistant--item
      (code-assistant-dismiss))
    (when code-assistant--timer
      (cancel-timer code-assistant--timer))
    (when (memq this-command '(self-insert-command newline delete-backward-char))
      (setq code-assistant--timer
            (run-with-idle-timer code-assistant-idle-delay nil
                                 (let ((buffer (current-buffer)))
                                   (lambda ()
                                     (when (buffer-live-p buffer)
                                       (with-current-buffer buffer
                                         (code-assistant-request))))))))))

(defvar code-assistant-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "TAB") #'code-assistant-accept)
    (define-key map (kbd "C-c C-a") #'code-assistant-request)
    (define-key map (kbd "C-c C-n") #'code-assistant-next-edit-location)
    map)
  "Keys of `code-assistant-mode'.")

(define-minor-mode code-assistant-mode
  "Ghost-text suggestions from the code assistant while you type."
  :lighter " CA"
  (if code-assistant-mode
      (progn
        (add-hook 'post-command-hook #'code-assistant--after-command nil t)
        (add-hook 'after-change-functions #'code-assistant--edit-stale nil t))
    (remove-hook 'post-command-hook #'code-assistant--after-command t)
    (remove-hook 'after-change-functions #'code-assistant--edit-stale t)
    (code-assistant--clear)
    (code-assistant--clear-edit)))

(defun code-assistant-setup (modes)
  "Use the code assistant in the major MODES: eglot starts it, ghost text follows."
  (add-to-list 'eglot-server-programs (cons modes #'code-assistant--contact))
  (dolist (mode modes)
    (let ((hook (intern (format "%s-hook" mode))))
      (add-hook hook #'eglot-ensure)
      (add-hook hook #'code-assistant-mode))))

;;; The assistant tasks

(defconst code-assistant-task-kinds '("explain" "find_bugs" "fix" "refactor" "tests" "docs")
  "What `code-assistant-task' can ask for.")

(defun code-assistant--range ()
  "The region as an LSP range, or the point as an empty one."
  (let ((start (if (use-region-p) (region-beginning) (point)))
        (end (if (use-region-p) (region-end) (point))))
    (list :start (eglot--pos-to-lsp-position start) :end (eglot--pos-to-lsp-position end))))

(defun code-assistant-task (kind &optional instruction)
  "Run the assistant task KIND on the region, or at point, with an optional INSTRUCTION.
Its edits come back as workspace/applyEdit (eglot applies them), find_bugs' findings as
diagnostics (Flymake), and its Markdown opens in the *code-assistant* buffer.  With a prefix
argument, asks for the instruction (\"rename to total\" for refactor).  Returns the server's
answer."
  (interactive
   (let ((kind (completing-read "Code assistant task: " code-assistant-task-kinds nil t)))
     (list kind (when current-prefix-arg (read-string "Instruction: ")))))
  ;; eglot sends edits only once Emacs is idle: the server must have the text (and version)
  ;; the range and the edits it sends back refer to, or eglot refuses those edits.
  (eglot--signal-textDocument/didChange)
  (let* ((server (eglot--current-server-or-lose))
         (argument (append (list :kind kind
                                 :uri (plist-get (eglot--TextDocumentIdentifier) :uri)
                                 :range (code-assistant--range))
                           (when (and instruction (not (string-empty-p instruction)))
                             (list :instruction instruction))))
         (answer (jsonrpc-request server :workspace/executeCommand
                                  (list :command "codeAssistant.task"
                                        :arguments (vector argument))))
         (markdown (plist-get answer :markdown)))
    (when (and (stringp markdown) (not (string-empty-p markdown)))
      (with-current-buffer (get-buffer-create "*code-assistant*")
        (let ((inhibit-read-only t))
          (erase-buffer)
          (insert markdown))
        (when (fboundp 'markdown-mode) (markdown-mode))
        (display-buffer (current-buffer))))
    answer))

(provide 'code-assistant)
;;; code-assistant.el ends here
