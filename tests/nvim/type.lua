-- Drives real Neovim (headless) the way a person does: keys go through Neovim's input queue, so
-- insert mode, TextChangedI, the plugin's debounce timer, its ghost text, the Tab mapping and
-- the cursor-move dismissal all run as they do in an editor. Each step is a timer callback so
-- Neovim's main loop processes the keys in between. Writes what it saw as JSON to $RESULT.
local result = { steps = {} }

local here = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":h")
local finish = dofile(here .. "/result.lua")(result)
local steps = dofile(here .. "/steps.lua")(result, finish)
local keys, when = steps.keys, steps.when

local ok, err = pcall(function()
  vim.opt.runtimepath:append(os.getenv("PLUGIN"))
  local assistant = require("code_assistant")
  assistant.setup({ cmd = { os.getenv("SERVER") }, init_options = { url = os.getenv("EDGE_URL") } })
  vim.cmd("edit " .. os.getenv("FILE"))
  local buf = vim.api.nvim_get_current_buf()
  local last = vim.api.nvim_buf_line_count(buf) - 1
  local function line()
    return vim.api.nvim_buf_get_lines(buf, last, last + 1, false)[1]
  end

  when("the language server", function()
    local c = assistant.client()
    return c ~= nil and c.initialized and vim.lsp.buf_is_attached(buf, c.id)
  end, 20, function()
    -- A first suggestion, then the cursor moves away: it is dismissed (reported rejected).
    keys("Gi<End>m")
    when("ghost text after typing", function() return assistant.suggestion() ~= nil end, 20, function()
      result.dismissed_request = assistant.suggestion().command.arguments[1].requestId
      keys("<Left>")
      when("the ghost gone after <Left>", function() return assistant.suggestion() == nil end, 5, function()
        -- Back to the end, one more key, and Tab accepts the new suggestion.
        keys("<End>i")
        when("ghost text again", function() return assistant.suggestion() ~= nil end, 20, function()
          local item = assistant.suggestion()
          result.suggestion = item.insertText
          result.request_id = item.command.arguments[1].requestId
          keys("<Tab>")
          when("the suggestion inserted", function() return assistant.suggestion() == nil end, 5, function()
            keys("<Esc>")
            vim.defer_fn(function()
              result.line_after_accept = line()
              vim.defer_fn(function() finish(true) end, 1000) -- the feedback leaves first
            end, 200)
          end)
        end)
      end)
    end)
  end)
end)
if not ok then
  finish(false, err)
end
