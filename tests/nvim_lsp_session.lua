-- A headless Neovim session with `archspec lsp` as its language server (tests/test_neovim.py).
--
-- Opens $ARCHSPEC_SPEC, attaches the server through Neovim's built-in LSP client (0.7 API,
-- Debian bookworm's), reads the diagnostics and a hover on the line holding $ARCHSPEC_HOVER,
-- then types a mistake the way a user would (normal-mode `ciw` on the word $ARCHSPEC_WORD
-- of that line, replaced by $ARCHSPEC_TYPED), waits for the server's diagnostics and hovers
-- again. Everything read goes to $ARCHSPEC_OUT as JSON; Neovim then quits.
local out = {}

local function wait_for(ms, check)
  return vim.wait(ms, check, 20)
end

local function hover(buf)
  local params = vim.lsp.util.make_position_params()
  local replies = vim.lsp.buf_request_sync(buf, "textDocument/hover", params, 10000) or {}
  for _, reply in pairs(replies) do
    if reply.result and reply.result.contents then
      return reply.result.contents.value or reply.result.contents
    end
  end
  return vim.NIL
end

local function diagnostics(buf)
  local found = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    table.insert(found, { line = d.lnum, col = d.col, message = d.message, source = d.source })
  end
  return found
end

local ok, err = pcall(function()
  vim.cmd("edit " .. vim.fn.fnameescape(os.getenv("ARCHSPEC_SPEC")))
  local buf = vim.api.nvim_get_current_buf()
  local published = 0
  local handler = vim.lsp.handlers["textDocument/publishDiagnostics"]
  local client_id = vim.lsp.start_client({
    name = "archspec",
    cmd = { os.getenv("ARCHSPEC_PYTHON"), "-m", "archspec", "lsp" },
    root_dir = vim.fn.getcwd(),
    handlers = {
      ["textDocument/publishDiagnostics"] = function(e, result, ctx, config)
        published = published + 1
        return handler(e, result, ctx, config)
      end,
    },
  })
  vim.lsp.buf_attach_client(buf, client_id)
  out.ready = wait_for(30000, function()
    local client = vim.lsp.get_client_by_id(client_id)
    return client ~= nil and client.server_capabilities ~= nil
  end)
  out.first_published = wait_for(30000, function() return published >= 1 end)
  out.diagnostics_before = diagnostics(buf)

  local row = vim.fn.search(os.getenv("ARCHSPEC_HOVER"), "w")
  vim.api.nvim_win_set_cursor(0, { row, vim.fn.col(".") })
  out.hover_row = row - 1
  out.hover_before = hover(buf)

  -- type the mistake: on that line, go to the word and change it, as a user does
  local word = os.getenv("ARCHSPEC_WORD")
  local col = string.find(vim.api.nvim_get_current_line(), word, 1, true)
  vim.api.nvim_win_set_cursor(0, { row, col - 1 })
  local before = published
  vim.cmd("normal! ciw" .. os.getenv("ARCHSPEC_TYPED"))
  out.line_after = vim.api.nvim_get_current_line()
  out.republished = wait_for(30000, function() return published > before and #vim.diagnostic.get(buf) > 0 end)
  out.diagnostics_after = diagnostics(buf)
  vim.api.nvim_win_set_cursor(0, { row, col - 1 })
  out.hover_after = hover(buf)
  vim.lsp.stop_client(client_id)
end)

out.ok = ok
out.error = ok and vim.NIL or tostring(err)
vim.fn.writefile({ vim.fn.json_encode(out) }, os.getenv("ARCHSPEC_OUT"))
vim.cmd("qa!")
