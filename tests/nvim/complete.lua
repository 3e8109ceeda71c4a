-- Drives real Neovim (headless) with editors/nvim: open a file, type, wait for the ghost text,
-- accept it, ask for classic completion the way 'omnifunc' does. Writes what it saw as JSON to
-- $RESULT and quits (exit code 1 on any error). Run by tests/test_ide_nvim.py.
local result = {}

local finish = dofile(vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":h")
  .. "/result.lua")(result)

local function must(cond, what)
  if not cond then
    error("timed out waiting for " .. what)
  end
end

local ok, err = pcall(function()
  vim.opt.runtimepath:append(os.getenv("PLUGIN"))
  local assistant = require("code_assistant")
  assistant.setup({
    cmd = { os.getenv("SERVER") },
    init_options = { url = os.getenv("EDGE_URL") },
  })
  vim.cmd("edit " .. os.getenv("FILE"))
  local buf = vim.api.nvim_get_current_buf()
  must(vim.wait(20000, function()
    local c = assistant.client()
    return c ~= nil and c.initialized and vim.lsp.buf_is_attached(buf, c.id)
  end, 20), "the language server to start")

  -- Type "m" at the end of the last line, then ask there (what the TextChangedI timer does).
  local last = vim.api.nvim_buf_line_count(buf) - 1
  local line = vim.api.nvim_buf_get_lines(buf, last, last + 1, false)[1]
  vim.api.nvim_buf_set_text(buf, last, #line, last, #line, { "m" })
  assistant.request({ last, #line + 1 })
  must(vim.wait(20000, function() return assistant.suggestion() ~= nil end, 10), "ghost text")
  local item = assistant.suggestion()
  result.suggestion = item.insertText
  result.request_id = item.command.arguments[1].requestId
  result.extmarks = #vim.api.nvim_buf_get_extmarks(buf, vim.api.nvim_create_namespace("code_assistant"), 0, -1, {})
  must(assistant.accept(), "accept")
  result.line_after_accept = vim.api.nvim_buf_get_lines(buf, last, last + 1, false)[1]

  -- Classic completion, converted to complete-items by Neovim's own code (as omnifunc does).
  vim.api.nvim_buf_set_lines(buf, last, last + 1, false, { line .. "m" })
  local c = assistant.client()
  local answers = vim.lsp.buf_request_sync(buf, "textDocument/completion", {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = { line = last, character = #line + 1 },
  }, 20000)
  local answer = answers and answers[c.id]
  must(answer and answer.result, "classic completion")
  local prefix = line:match("[%w_]*$") .. "m"
  local items = vim.lsp.util.text_document_completion_list_to_complete_items(answer.result, prefix)
  result.complete_words = vim.tbl_map(function(i) return i.word end, items)

  -- Give the accepted feedback time to leave before the server is stopped.
  vim.wait(1000)
  vim.lsp.stop_client(c.id)
end)
finish(ok, err)
