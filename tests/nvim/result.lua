-- Shared by the Neovim test scripts: write what the script saw as JSON to $RESULT and quit
-- (exit code 1, with the error in the JSON, when it failed).
return function(result)
  return function(ok, err)
    if not ok then
      result.error = tostring(err)
    end
    local out = io.open(os.getenv("RESULT"), "w")
    out:write(vim.fn.json_encode(result))
    out:close()
    vim.cmd(ok and "qall!" or "cquit! 1")
  end
end
