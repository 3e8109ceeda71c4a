-- Drives real Neovim (headless) through a rename typed as a person types it: the server's
-- next-edit suggestion (the parameter's other uses) is drawn, ]n jumps to it, <Tab> applies it
-- as one undo step, `u` takes all of it back. Writes what it saw as JSON to $RESULT.
local result = { steps = {} }

local here = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":h")
local finish = dofile(here .. "/result.lua")(result)
local steps = dofile(here .. "/steps.lua")(result, finish)
local keys, when = steps.keys, steps.when

local ok, err = pcall(function()
  vim.opt.runtimepath:append(os.getenv("PLUGIN"))
  vim.cmd("filetype on") -- languageId python (without it Neovim sends "")
  local assistant = require("code_assistant")
  assistant.setup({ cmd = { os.getenv("SERVER") }, init_options = { url = os.getenv("EDGE_URL") } })
  vim.cmd("edit " .. os.getenv("FILE"))
  local buf = vim.api.nvim_get_current_buf()
  local function lines()
    return vim.api.nvim_buf_get_lines(buf, 0, 4, false)
  end
  local ns = vim.api.nvim_get_namespaces()["code_assistant_next_edit"]

  when("the language server", function()
    local c = assistant.client()
    return c ~= nil and c.initialized and vim.lsp.buf_is_attached(buf, c.id)
  end, 20, function()
    -- A completion first: the server's session to the edge is open (an edit made before it
    -- opens reaches the worker as the document's first text, with nothing renamed in it).
    vim.lsp.buf_request_sync(buf, "textDocument/inlineCompletion", {
      textDocument = { uri = vim.uri_from_bufnr(buf) }, position = { line = 0, character = 0 },
      context = { triggerKind = 1 } }, 10000)
    keys("gg0f(lciwcount<Esc>")
    when("a next edit", function() return assistant.next_edit() ~= nil end, 20, function()
      local edit = assistant.next_edit()
      result.suggestion_id = edit.suggestionId
      result.label = edit.label
      result.rule = edit.rule
      result.edits = #edit.edits
      result.marks = #vim.api.nvim_buf_get_extmarks(buf, ns, 0, -1, {})
      -- The same suggestion as a code action (what VS Code shows): its edit at this version.
      local answers = vim.lsp.buf_request_sync(buf, "textDocument/codeAction", {
        textDocument = { uri = vim.uri_from_bufnr(buf) },
        range = { start = { line = 0, character = 0 }, ["end"] = { line = 0, character = 0 } },
        context = { diagnostics = {} } }, 10000)
      for _, answer in pairs(answers or {}) do
        for _, action in ipairs(answer.result or {}) do
          if action.edit then
            result.action_title = action.title
            result.action_version = action.edit.documentChanges[1].textDocument.version
          end
        end
      end
      result.buffer_version = vim.lsp.util.buf_versions[buf]
      keys("]n")
      vim.defer_fn(function()
        result.cursor_after_jump = vim.api.nvim_win_get_cursor(0)
        keys("<Tab>")
        when("the edit applied", function() return assistant.next_edit() == nil end, 5, function()
          vim.defer_fn(function()
            result.lines_after_accept = lines()
            keys("u")
            vim.defer_fn(function()
              result.lines_after_undo = lines()
              vim.defer_fn(function() finish(true) end, 1000) -- the feedback leaves first
            end, 200)
          end, 200)
        end)
      end, 200)
    end)
  end)
end)
if not ok then
  finish(false, err)
end
