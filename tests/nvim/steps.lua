-- Shared by the Neovim scripts that type through Neovim's input queue: ``keys`` feeds keys as
-- typed, ``when`` runs ``check`` every 50 ms until it returns true, then ``after`` (recording
-- ``what`` in ``result.steps``), and gives up after ``seconds`` through ``finish``.
return function(result, finish)
  local steps = {}

  function steps.keys(text)
    vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(text, true, false, true), "t", false)
  end

  function steps.when(what, check, seconds, after)
    local deadline = vim.loop.now() + seconds * 1000
    local function poll()
      local ok, done = pcall(check)
      if not ok then
        return finish(false, done)
      end
      if done then
        table.insert(result.steps, what)
        local fine, err = pcall(after)
        if not fine then
          finish(false, err)
        end
      elseif vim.loop.now() > deadline then
        finish(false, "timed out waiting for " .. what)
      else
        vim.defer_fn(poll, 50)
      end
    end
    vim.defer_fn(poll, 50)
  end

  return steps
end
