-- Code assistant for Neovim (0.7 and later): starts our language server with the built-in LSP
-- client, shows its inline completion as ghost text while you type, and reports what you do
-- with it. Classic completion works too: the server answers textDocument/completion, and this
-- sets 'omnifunc' so <C-x><C-o> asks it.
--
--   require("code_assistant").setup({
--     cmd = { "/path/to/checkout/editors/bin/code-assistant-ls" },
--     init_options = { url = "ws://127.0.0.1:8765" },  -- or CODE_ASSISTANT_URL
--   })
--
-- The API key comes from CODE_ASSISTANT_API_KEY / CODE_ASSISTANT_API_KEY_FILE in Neovim's
-- environment (never from this file).
--
-- Next edits: after an edit that implies others (a renamed parameter's other uses), the server
-- pushes a suggestion; each place it changes is highlighted, with the line as it would read
-- shown at the line's end. <Tab> (normal mode, or insert mode with no ghost text) applies all
-- of it as one undo step, ]n jumps to its next place, <C-]> rejects it; any edit drops it.

local M = {}

local defaults = {
  cmd = { "code-assistant-ls" },
  init_options = {},
  filetypes = nil, -- nil: every buffer with a file name
  debounce_ms = 75,
  accept_key = "<Tab>",
  dismiss_key = "<C-]>",
  highlight = "Comment",
  next_edits = true,
  accept_edit_key = "<Tab>",
  jump_edit_key = "]n",
  edit_highlight = "DiffChange",
  edit_preview_highlight = "DiffAdd",
}

local ns = vim.api.nvim_create_namespace("code_assistant")
local ns_edit = vim.api.nvim_create_namespace("code_assistant_next_edit")
local state = { client_id = nil, config = nil, timer = nil, ghost = nil, seq = 0, edit = nil }

local function client()
  return state.client_id and vim.lsp.get_client_by_id(state.client_id) or nil
end

local function clear()
  vim.api.nvim_buf_clear_namespace(0, ns, 0, -1)
end

-- Tell the server what became of the suggestion on screen ("accepted", "rejected", ...).
local function report(ghost, kind)
  local c = client()
  local command = ghost.item.command
  if not c or not command or not command.arguments or not command.arguments[1] then
    return
  end
  local args = vim.deepcopy(command.arguments[1])
  args.kind = kind
  c.request("workspace/executeCommand", { command = command.command, arguments = { args } },
    function() end, ghost.buf)
end

function M.dismiss()
  local ghost = state.ghost
  state.ghost = nil
  clear()
  if ghost then
    report(ghost, "rejected")
  end
end

local function split(text)
  return vim.split(text, "\n", { plain = true })
end

local function show(buf, row, col, item)
  clear()
  local lines = split(item.insertText)
  local opts = { virt_text = { { lines[1], state.config.highlight } }, virt_text_pos = "overlay" }
  if col >= #vim.api.nvim_buf_get_lines(buf, row, row + 1, false)[1] then
    opts.virt_text_pos = "eol"
  end
  if #lines > 1 then
    opts.virt_lines = {}
    for i = 2, #lines do
      table.insert(opts.virt_lines, { { lines[i], state.config.highlight } })
    end
  end
  vim.api.nvim_buf_set_extmark(buf, ns, row, col, opts)
  state.ghost = { buf = buf, row = row, col = col, item = item }
end

local function position_params(buf, row, col, encoding)
  local line = vim.api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ""
  local utf32, utf16 = vim.str_utfindex(line, col)
  local character = (encoding == "utf-8" and col) or (encoding == "utf-32" and utf32) or utf16
  return {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = { line = row, character = character },
    context = { triggerKind = 2 },
  }
end

-- Ask for a suggestion at the cursor (or at ``at`` = { row, byte col }, both from 0); a newer
-- request makes an older answer stale, and so does a cursor that moved meanwhile.
function M.request(at)
  local c = client()
  if not c then
    return
  end
  state.seq = state.seq + 1
  local seq, buf = state.seq, vim.api.nvim_get_current_buf()
  local cursor = vim.api.nvim_win_get_cursor(0)
  local row, col = cursor[1] - 1, cursor[2]
  if at then
    row, col = at[1], at[2]
  end
  local params = position_params(buf, row, col, c.offset_encoding)
  c.request("textDocument/inlineCompletion", params, function(err, result)
    if err or seq ~= state.seq or vim.api.nvim_get_current_buf() ~= buf then
      return
    end
    local now = vim.api.nvim_win_get_cursor(0)
    local items = result and (result.items or result) or {}
    if not items[1] or items[1].insertText == "" then
      return
    end
    if not at and (now[1] ~= cursor[1] or now[2] ~= cursor[2]) then
      return
    end
    show(buf, row, col, items[1])
  end, buf)
end

-- Insert the ghost text at the cursor; returns false when there was none.
function M.accept()
  local ghost = state.ghost
  if not ghost or ghost.buf ~= vim.api.nvim_get_current_buf() then
    return false
  end
  state.ghost = nil
  clear()
  local lines = split(ghost.item.insertText)
  vim.api.nvim_buf_set_text(ghost.buf, ghost.row, ghost.col, ghost.row, ghost.col, lines)
  local last_row = ghost.row + #lines - 1
  local last_col = (#lines == 1 and ghost.col or 0) + #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { last_row + 1, last_col })
  report(ghost, "accepted")
  return true
end

-- The suggestion on screen (the LSP InlineCompletionItem), for scripts and statuslines.
function M.suggestion()
  return state.ghost and state.ghost.item or nil
end

-- --- next edits -------------------------------------------------------------------------

local function edit_feedback(suggestion_id, kind)
  local c = client()
  if c then
    c.request("workspace/executeCommand", { command = "codeAssistant.nextEditFeedback",
      arguments = { { suggestionId = suggestion_id, kind = kind } } }, function() end)
  end
end

local function clear_edit()
  local edit = state.edit
  state.edit = nil
  if edit and vim.api.nvim_buf_is_valid(edit.buf) then
    vim.api.nvim_buf_clear_namespace(edit.buf, ns_edit, 0, -1)
  end
  return edit
end

-- A byte column of ``line`` for an LSP character in ``encoding``.
local function byte_col(line, character, encoding)
  if encoding == "utf-8" then
    return math.min(character, #line)
  end
  local ok, col = pcall(vim.str_byteindex, line, character, encoding == "utf-16")
  return ok and col or #line
end

-- Each line the suggestion changes, as it would read after it (for the preview).
local function previews(buf, edits, encoding)
  local rows = {}
  for i = #edits, 1, -1 do -- last first, so earlier columns stay valid
    local e = edits[i]
    local row = e.range.start.line
    local line = rows[row] or vim.api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ""
    local first = byte_col(line, e.range.start.character, encoding)
    local last = e.range["end"].line == row and byte_col(line, e.range["end"].character, encoding)
      or #line
    rows[row] = line:sub(1, first) .. e.newText:gsub("\n.*", "") .. line:sub(last + 1)
  end
  return rows
end

-- Draw a suggestion pushed by the server (codeAssistant/nextEdit) if its buffer is as it was.
local function on_next_edit(_, params)
  local buf = vim.uri_to_bufnr(params.uri)
  if not vim.api.nvim_buf_is_loaded(buf) or params.version ~= vim.lsp.util.buf_versions[buf] then
    return
  end
  local c = client()
  local encoding = c and c.offset_encoding or "utf-16"
  clear_edit()
  local places = {}
  for _, e in ipairs(params.edits) do
    local row = e.range.start.line
    local line = vim.api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ""
    local first = byte_col(line, e.range.start.character, encoding)
    local last = e.range["end"].line == row and byte_col(line, e.range["end"].character, encoding)
      or #line
    vim.api.nvim_buf_set_extmark(buf, ns_edit, row, first, {
      end_col = math.max(last, first), hl_group = state.config.edit_highlight })
    table.insert(places, { row + 1, first })
  end
  for row, text in pairs(previews(buf, params.edits, encoding)) do
    vim.api.nvim_buf_set_extmark(buf, ns_edit, row, 0, {
      virt_text = { { "  -> " .. vim.trim(text), state.config.edit_preview_highlight } },
      virt_text_pos = "eol" })
  end
  state.edit = { buf = buf, params = params, encoding = encoding, places = places }
  edit_feedback(params.suggestionId, "shown")
end

-- The next-edit suggestion on screen (the server's codeAssistant/nextEdit params), or nil.
function M.next_edit()
  return state.edit and state.edit.params or nil
end

-- Apply the suggestion on screen as one undo step; false when there is none (or the buffer
-- changed since: it is then dropped).
function M.accept_edit()
  local edit = state.edit
  if not edit or edit.buf ~= vim.api.nvim_get_current_buf() then
    return false
  end
  clear_edit()
  if edit.params.version ~= vim.lsp.util.buf_versions[edit.buf] then
    return false
  end
  vim.lsp.util.apply_text_edits(edit.params.edits, edit.buf, edit.encoding)
  edit_feedback(edit.params.suggestionId, "accepted")
  return true
end

-- Reject the suggestion on screen.
function M.reject_edit()
  local edit = clear_edit()
  if edit then
    edit_feedback(edit.params.suggestionId, "rejected")
  end
end

-- Move the cursor to the suggestion's next place after it (wrapping); false when there is none.
function M.jump_edit()
  local edit = state.edit
  if not edit or edit.buf ~= vim.api.nvim_get_current_buf() then
    return false
  end
  local cursor = vim.api.nvim_win_get_cursor(0)
  local target = nil
  for _, place in ipairs(edit.places) do -- in document order
    if place[1] > cursor[1] or (place[1] == cursor[1] and place[2] > cursor[2]) then
      target = place
      break
    end
  end
  target = target or edit.places[1]
  if target then
    vim.api.nvim_win_set_cursor(0, target)
  end
  return target ~= nil
end

-- The running client (nil before setup or after it failed to start).
M.client = client

local function on_text_changed()
  clear_edit() -- stale now: the server reports it dismissed unless it hears otherwise
  if state.ghost then
    M.dismiss()
  end
  if state.timer then
    state.timer:stop()
  end
  state.timer = vim.defer_fn(M.request, state.config.debounce_ms)
end

local function attach(buf)
  if not state.client_id or vim.api.nvim_buf_get_name(buf) == "" then
    return
  end
  local filetypes = state.config.filetypes
  if filetypes and not vim.tbl_contains(filetypes, vim.bo[buf].filetype) then
    return
  end
  vim.lsp.buf_attach_client(buf, state.client_id)
  vim.bo[buf].omnifunc = "v:lua.vim.lsp.omnifunc"
end

-- The assistant tasks ("explain", "find_bugs", "fix", "refactor", "tests", "docs") on the cursor
-- or on `range` (an LSP range): the server asks Neovim to apply their edits
-- (workspace/applyEdit), publishes find_bugs' findings as diagnostics, and the Markdown it
-- returns is shown in a floating window. `on_done(result, err)` is called with the answer;
-- `instruction` is optional ("rename to total" for refactor).
function M.task(kind, range, on_done, instruction)
  local c = client()
  if not c then
    return false
  end
  local buf = vim.api.nvim_get_current_buf()
  local params = vim.lsp.util.make_range_params(0, c.offset_encoding)
  local args = { kind = kind, uri = params.textDocument.uri, range = range or params.range,
                 instruction = instruction }
  c.request("workspace/executeCommand", { command = "codeAssistant.task", arguments = { args } },
    function(err, result)
      if err then
        vim.notify("code assistant: " .. (err.message or tostring(err)), vim.log.levels.ERROR)
      elseif result and result.markdown and result.markdown ~= "" then
        vim.lsp.util.open_floating_preview(vim.split(result.markdown, "\n"), "markdown",
          { border = "rounded" })
      end
      if on_done then
        on_done(result, err)
      end
    end, buf)
  return true
end

function M.setup(opts)
  state.config = vim.tbl_deep_extend("force", defaults, opts or {})
  local config = state.config
  state.client_id = vim.lsp.start_client({
    name = "code-assistant",
    cmd = config.cmd,
    init_options = vim.tbl_extend("force", { client = "neovim", nextEdits = config.next_edits,
                                             nextEditNotifications = config.next_edits },
                                  config.init_options),
    root_dir = vim.loop.cwd(),
    -- Every keystroke goes to the server at once: the edge and the workers debounce.
    flags = { debounce_text_changes = 0 },
    handlers = {
      ["window/showMessage"] = function(_, result)
        local levels = { vim.log.levels.ERROR, vim.log.levels.WARN, vim.log.levels.INFO }
        vim.notify("code assistant: " .. result.message, levels[result.type] or vim.log.levels.INFO)
      end,
      ["codeAssistant/nextEdit"] = on_next_edit,
    },
  })
  if not state.client_id then
    vim.notify("code assistant: could not start " .. table.concat(config.cmd, " "),
      vim.log.levels.ERROR)
    return
  end
  local group = vim.api.nvim_create_augroup("code_assistant", { clear = true })
  vim.api.nvim_create_autocmd({ "BufEnter", "FileType" }, {
    group = group,
    callback = function(args) attach(args.buf) end,
  })
  vim.api.nvim_create_autocmd("TextChangedI", { group = group, callback = on_text_changed })
  -- (A callback that returns a truthy value deletes its autocmd in Neovim 0.10: none here.)
  vim.api.nvim_create_autocmd("TextChanged", { group = group, callback = function()
    clear_edit()
  end })
  -- A cursor moved away (arrow keys, a click) leaves the suggestion where it no longer applies.
  vim.api.nvim_create_autocmd("CursorMovedI", {
    group = group,
    callback = function()
      local ghost, cursor = state.ghost, vim.api.nvim_win_get_cursor(0)
      if ghost and (cursor[1] - 1 ~= ghost.row or cursor[2] ~= ghost.col) then
        M.dismiss()
      end
    end,
  })
  vim.api.nvim_create_autocmd({ "InsertLeave", "BufLeave" }, {
    group = group,
    callback = function() if state.ghost then M.dismiss() end end,
  })
  vim.keymap.set("i", config.accept_key, function()
    if not M.accept() and not (config.accept_key == config.accept_edit_key and M.accept_edit()) then
      vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(config.accept_key, true, false, true),
        "n", false)
    end
  end, { desc = "accept the code assistant's suggestion" })
  vim.keymap.set("i", config.dismiss_key, function()
    M.dismiss()
    M.reject_edit()
  end, { desc = "dismiss the suggestion" })
  local function fallback(key, action)
    return function()
      if not action() then
        vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(key, true, false, true), "n", false)
      end
    end
  end
  vim.keymap.set("n", config.accept_edit_key, fallback(config.accept_edit_key, M.accept_edit),
    { desc = "apply the code assistant's next edit" })
  vim.keymap.set("n", config.jump_edit_key, fallback(config.jump_edit_key, M.jump_edit),
    { desc = "go to the next edit's next place" })
  vim.keymap.set("n", config.dismiss_key, fallback(config.dismiss_key, function()
    local had = state.edit ~= nil
    M.reject_edit()
    return had
  end), { desc = "reject the next edit" })
  -- :CodeAssistant {explain|find_bugs|fix|refactor|tests|docs} [instruction], on the cursor or
  -- a line range (`:CodeAssistant refactor rename to total`).
  vim.api.nvim_create_user_command("CodeAssistant", function(args)
    local range = nil
    if args.range > 0 then
      local last = vim.api.nvim_buf_get_lines(0, args.line2 - 1, args.line2, false)[1] or ""
      range = { start = { line = args.line1 - 1, character = 0 },
                ["end"] = { line = args.line2 - 1, character = #last } }
    end
    local kind, instruction = args.args:match("^(%S+)%s*(.*)$")
    M.task(kind, range, nil, instruction ~= "" and instruction or nil)
  end, {
    nargs = "+",
    range = true,
    complete = function()
      return { "explain", "find_bugs", "fix", "refactor", "tests", "docs" }
    end,
  })
  attach(vim.api.nvim_get_current_buf())
end

return M
