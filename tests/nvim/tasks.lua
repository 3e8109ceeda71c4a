-- Drives real Neovim (headless) with editors/nvim through the assistant tasks: the code actions
-- the server offers, "docs" applied to the buffer by Neovim's own workspace/applyEdit handler,
-- and find_bugs' findings as Neovim diagnostics. Run by tests/test_ide_nvim.py.
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
  local c = assistant.client()

  -- The code actions on the first function, as Neovim's own code-action request gets them.
  vim.api.nvim_win_set_cursor(0, { 1, 5 })
  local params = vim.lsp.util.make_range_params(0, c.offset_encoding)
  params.context = { diagnostics = {} }
  local answers = vim.lsp.buf_request_sync(buf, "textDocument/codeAction", params, 20000)
  local actions = answers and answers[c.id] and answers[c.id].result
  must(actions, "code actions")
  result.actions = vim.tbl_map(function(a) return a.title end, actions)

  -- "docs" on the cursor: the server's workspace/applyEdit lands in the buffer.
  local docs = nil
  assistant.task("docs", nil, function(answer) docs = answer end)
  must(vim.wait(30000, function() return docs ~= nil end, 20), "the docs task")
  result.docs_applied = docs.applied
  result.line_after_docs = vim.api.nvim_buf_get_lines(buf, 1, 2, false)[1]

  -- "refactor" with an instruction: rename the parameter under the cursor.
  vim.api.nvim_win_set_cursor(0, { 1, 15 })
  local renamed = nil
  assistant.task("refactor", nil, function(answer) renamed = answer end, "rename to n")
  must(vim.wait(30000, function() return renamed ~= nil end, 20), "the rename")
  result.rename_edits = renamed.edits
  result.line_after_rename = vim.api.nvim_buf_get_lines(buf, 0, 1, false)[1]

  -- "find_bugs" on the whole buffer: diagnostics in Neovim.
  local bugs = nil
  assistant.task("find_bugs", nil, function(answer) bugs = answer end)
  must(vim.wait(30000, function() return bugs ~= nil end, 20), "the find_bugs task")
  result.findings = bugs.findings
  result.bugs_reason = bugs.reason
  result.bugs_markdown = bugs.markdown
  must(vim.wait(5000, function() return #vim.diagnostic.get(buf) > 0 end, 20), "diagnostics")
  result.diagnostics = vim.tbl_map(function(d) return d.source .. ":" .. tostring(d.code) end,
    vim.diagnostic.get(buf))
  vim.lsp.stop_client(c.id)
end)
finish(ok, err)
