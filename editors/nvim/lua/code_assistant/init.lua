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

local M = {}

local defaults = {
  cmd = { "code-assistant-ls" },
  init_options = {},
  filetypes = nil, -- nil: every buffer with a file name
  debounce_ms = 75,
  accept_key = "<Tab>",
  dismiss_key = "<C-]>",
  highlight = "Comment",
}

local ns = vim.api.nvim_create_namespace("code_assistant")
local state = { client_id = nil, config = nil, timer = nil, ghost = nil, seq = 0 }

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

-- The running client (nil before setup or after it failed to start).
M.client = client

local function on_text_changed()
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
    init_options = vim.tbl_extend("force", { client = "neovim" }, config.init_options),
    root_dir = vim.loop.cwd(),
    -- Every keystroke goes to the server at once: the edge and the workers debounce.
    flags = { debounce_text_changes = 0 },
    handlers = {
      ["window/showMessage"] = function(_, result)
        local levels = { vim.log.levels.ERROR, vim.log.levels.WARN, vim.log.levels.INFO }
        vim.notify("code assistant: " .. result.message, levels[result.type] or vim.log.levels.INFO)
      end,
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
    if not M.accept() then
      vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(config.accept_key, true, false, true),
        "n", false)
    end
  end, { desc = "accept the code assistant's suggestion" })
  vim.keymap.set("i", config.dismiss_key, M.dismiss, { desc = "dismiss the suggestion" })
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
