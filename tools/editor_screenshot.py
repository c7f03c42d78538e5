"""Make docs/images/lsp-hover.svg: a real Neovim screen with a hover from ``archspec lsp``.

Neovim runs in a tmux pane (a real terminal UI, 118x34) on specs/resnet18.yaml with the
server attached through its built-in LSP client; the cursor is put on the ``residual:``
item and ``vim.lsp.buf.hover()`` is called, as the ``K`` key does (the float gets a border
and dark colours, set in the session below, as a user's configuration would). After a few seconds the
pane is captured with its colours (``tmux capture-pane -e``) and rich writes that text as
SVG. Nothing is drawn by hand: the screen is what the editor showed.

    python tools/editor_screenshot.py            # needs tmux and nvim
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "images" / "lsp-hover.svg"
WIDTH, HEIGHT = 118, 34

SESSION = r"""
vim.o.number = true
vim.o.termguicolors = true
vim.cmd("syntax on")
vim.cmd("highlight NormalFloat guibg=#1f2937 guifg=#e5e7eb")  -- the float's colours (0.7's default is magenta)
vim.cmd("highlight FloatBorder guibg=#1f2937 guifg=#9ca3af")
vim.lsp.handlers["textDocument/hover"] = vim.lsp.with(vim.lsp.handlers.hover, { border = "rounded" })
local buf = vim.api.nvim_get_current_buf()
local id = vim.lsp.start_client({
  name = "archspec",
  cmd = { os.getenv("ARCHSPEC_PYTHON"), "-m", "archspec", "lsp" },
  root_dir = vim.fn.getcwd(),
})
vim.lsp.buf_attach_client(buf, id)
vim.wait(30000, function()
  local c = vim.lsp.get_client_by_id(id)
  return c ~= nil and c.server_capabilities ~= nil
end, 50)
vim.wait(1500)
local row = vim.fn.search("residual:", "w")
vim.api.nvim_win_set_cursor(0, { row, vim.fn.match(vim.fn.getline(row), "residual") })
vim.cmd("normal! zt")
vim.cmd("normal! 13\25")
vim.lsp.buf.hover()
"""


def capture() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "session.lua"
        script.write_text(SESSION, encoding="utf-8")
        env = (
            f"env TERM=xterm-256color PYTHONPATH={shlex.quote(str(ROOT))} ARCHSPEC_PYTHON={shlex.quote(sys.executable)}"
        )
        nvim = f"nvim --clean -n -c {shlex.quote('luafile ' + str(script))} specs/resnet18.yaml"
        name = f"archspec-shot-{os.getpid()}"
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", name, "-x", str(WIDTH), "-y", str(HEIGHT), f"{env} {nvim}"],
            cwd=ROOT,
            check=True,
        )
        try:
            time.sleep(8)  # the server starts, checks the spec, answers the hover
            return subprocess.run(
                ["tmux", "capture-pane", "-p", "-e", "-t", name], capture_output=True, text=True, check=True
            ).stdout
        finally:
            subprocess.run(["tmux", "kill-session", "-t", name], check=False)


def main() -> None:
    from rich.console import Console
    from rich.text import Text

    screen = capture()
    if "All 8 instances" not in screen:
        sys.exit("the hover did not appear on the captured screen:\n" + screen)
    console = Console(record=True, width=WIDTH, file=open(os.devnull, "w"), force_terminal=True)  # noqa: SIM115
    console.print(Text.from_ansi(screen.rstrip("\n")))
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    console.save_svg(str(TARGET), title="Neovim + archspec lsp: hover on a residual item (specs/resnet18.yaml)")
    print(f"wrote {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
