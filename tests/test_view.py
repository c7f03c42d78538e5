"""`archspec view`: the server's routes (and nothing else), its state for valid, invalid and
hostile specs, the file watcher and its server-sent events, and a clean Ctrl-C. No browser
here (tests/test_browser.py drives the page in Chromium)."""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT

from archspec.cli import main
from archspec.view import server

SPEC = """archspec: 1
name: small
input: [16, 16, 3]
vars: {width: 8}
scales: {wide: {width: 32}}
blocks:
  unit:
    params: {filters: null}
    layers:
      - {conv: "${filters}", padding: same, name: conv}
      - {relu: null, name: relu}
layers:
  - {unit: "${width}", name: u1}
  - {maxpool: 2, name: pool}
  - {flatten: null, name: flat}
  - {dense: 10, activation: softmax, name: predictions}
"""


@pytest.fixture
def served(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(SPEC)
    (tmp_path / "secret.txt").write_text("TOP-SECRET-CONTENT")
    httpd, stop_event = server.start(spec, port=0)
    yield httpd, spec
    server.stop(httpd, stop_event)


def _get(httpd, path: str, host: str | None = None) -> tuple[int, bytes]:
    port = httpd.server_address[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("GET", path, skip_host=True)  # the raw path: no client-side normalisation
    conn.putheader("Host", host or f"127.0.0.1:{port}")
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


def _state(httpd, query: str = "") -> dict:
    status, body = _get(httpd, "/api/state" + query)
    assert status == 200
    return json.loads(body)


def _summary(spec: Path, *args: str) -> dict:
    result = CliRunner().invoke(main, ["summary", str(spec), "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _wait_version(httpd, version: int, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _state(httpd)
        if state["version"] >= version:
            return state
        time.sleep(0.05)
    raise AssertionError(f"the spec's version did not reach {version} in {timeout} s")


def test_state_has_the_summary_figures(served):
    httpd, spec = served
    state = _state(httpd)
    summary = _summary(spec)
    assert state["problems"] == [] and state["variants"] == ["wide"]
    nodes = state["scene"]["nodes"]
    assert [n["name"] for n in nodes[1:]] == [layer["name"] for layer in summary["layers"]]
    assert [n["params"] for n in nodes[1:]] == [layer["params"] for layer in summary["layers"]]
    assert state["scene"]["totals"]["total_params"] == summary["total_params"]
    conv = next(n for n in nodes if n["name"] == "u1_conv")
    assert conv["line"] == 10 and conv["line_text"] == SPEC.splitlines()[9]  # written in the block
    unit = next(g for g in state["scene"]["groups"] if g["name"] == "u1")
    assert unit["line"] == 13 and unit["line_text"] == SPEC.splitlines()[12]  # and used here


def test_page_is_self_contained(served):
    httpd, _ = served
    status, body = _get(httpd, "/")
    page = body.decode()
    assert status == 200 and "ArchspecPage.initLive" in page
    assert "connect-src 'self'" in page and "default-src 'none'" in page
    assert not re.search(r"""\s(src|href)\s*=""", page, re.I)


@pytest.mark.parametrize(
    "path",
    [
        "/secret.txt",
        "/net.yaml",
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/api/state/../../secret.txt",
        "/api/../secret.txt",
        "//etc/passwd",
        "/etc/passwd",
        "/static/../../secret.txt",
        "/index.html",
        "/events/../secret.txt",
    ],
)
def test_no_other_file_is_served(served, path):
    httpd, _ = served
    status, body = _get(httpd, path)
    assert status == 404 and b"TOP-SECRET" not in body and b"archspec" not in body


def test_query_cannot_name_a_file(served):
    httpd, spec = served
    status, body = _get(httpd, "/api/state?path=secret.txt&spec=../secret.txt&file=/etc/passwd")
    assert status == 200 and b"TOP-SECRET" not in body
    assert json.loads(body)["spec"] == str(spec.resolve())


def test_command_line_variant_and_set_are_the_controls_first_values(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(SPEC)
    httpd, stop_event = server.start(spec, port=0, options=server.Options("wide", ("width=16",)))
    try:
        page = _get(httpd, "/")[1].decode()
        state = _state(httpd, "?variant=wide&set=width%3D16")
    finally:
        server.stop(httpd, stop_event)
    assert '"initial":{"variant":"wide","sets":["width=16"]}' in page  # the page asks for these first
    assert (
        state["version"] == 0
        and state["scene"]["totals"]["total_params"]
        == _summary(spec, "--variant", "wide", "--set", "width=16")["total_params"]
    )


def test_foreign_host_is_refused(served):
    """A page on another site that points a name at 127.0.0.1 (DNS rebinding) gets nothing."""
    httpd, _ = served
    for host in ("evil.example", "evil.example:80", f"127.0.0.1.evil.example:{httpd.server_address[1]}"):
        status, body = _get(httpd, "/api/state", host=host)
        assert status == 403 and b"scene" not in body


def test_variant_and_set_controls(served):
    httpd, spec = served
    wide = _state(httpd, "?variant=wide")
    assert wide["scene"]["totals"]["total_params"] == _summary(spec, "--variant", "wide")["total_params"]
    custom = _state(httpd, "?set=width%3D4")
    assert custom["scene"]["totals"]["total_params"] == _summary(spec, "--set", "width=4")["total_params"]
    unknown = _state(httpd, "?variant=tall")
    assert "unknown variant 'tall'" in unknown["problems"][0]["message"]
    assert unknown["scene"] is None  # no good picture of that variant yet: none is made up
    typo = _state(httpd, "?set=widht%3D4")
    assert "no variable 'widht'" in typo["problems"][0]["message"] and "Did you mean" in typo["problems"][0]["message"]


def test_states_kept_are_bounded(served):
    httpd, _ = served
    for width in range(server.MAX_OPTIONS + 10):
        _state(httpd, f"?set=width%3D{width + 1}")
    assert len(httpd.state._cache) <= server.MAX_OPTIONS and len(httpd.state._last_good) <= server.MAX_OPTIONS


def test_save_is_pushed_as_an_event(served):
    httpd, spec = served
    conn = http.client.HTTPConnection("127.0.0.1", httpd.server_address[1], timeout=5)
    conn.request("GET", "/events")
    stream = conn.getresponse()
    assert stream.getheader("Content-Type") == "text/event-stream"
    assert stream.readline() == b"retry: 500\n" and stream.readline() == b"data: 0\n"
    stream.readline()
    time.sleep(0.2)  # the watcher is running (it started with the server)
    spec.write_text(SPEC.replace("dense: 10", "dense: 7"))
    line = stream.readline()  # how soon: bench/bench_view.py (no timings asserted here)
    while line.startswith(b":") or line == b"\n":  # keep-alive comments
        line = stream.readline()
    assert line == b"data: 1\n"
    conn.close()
    assert _state(httpd)["scene"]["nodes"][-1]["shape"] == [7]


def test_editor_style_save_by_rename_is_seen(served):
    httpd, spec = served
    tmp = spec.with_name(".net.yaml.swp")
    tmp.write_text(SPEC.replace("dense: 10", "dense: 5"))
    tmp.replace(spec)
    state = _wait_version(httpd, 1)
    assert state["scene"]["nodes"][-1]["shape"] == [5]


def test_invalid_spec_shows_problems_over_the_last_good_picture(served):
    httpd, spec = served
    good = _state(httpd)["scene"]
    spec.write_text(SPEC.replace("{maxpool: 2, name: pool}", "{maxpool: 2, name: pool, strides: -1}"))
    state = _wait_version(httpd, 1)
    assert state["scene"] == good
    [problem] = state["problems"]
    assert problem["line"] == 14 and "strides" in problem["message"]
    assert problem["line_text"] == "  - {maxpool: 2, name: pool, strides: -1}"
    spec.write_text(SPEC)
    fixed = _wait_version(httpd, 2)
    assert fixed["problems"] == [] and fixed["scene"] == good


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe\x00garbage",
        b"[[[[[[[[",
        b"a: &x [*x]\n",
        b"archspec: 1\ninput: [8, 8, 1]\nlayers: [{dense: 2}]\n",  # dense on an image: a shape error
        b"archspec: 1\ninput: [8, 8, 1]\nlayers:\n  - repeat: 1000000000\n    layers: [relu]\n",
        b"!!python/object/apply:os.system ['echo pwned']\n",
        b"archspec: 1\ninput: [8, 8, 1]\nscales: 3\nlayers: [flatten]\n",
        b"",
    ],
)
def test_no_spec_can_stop_the_server(served, content):
    httpd, spec = served
    spec.write_bytes(content)
    state = _wait_version(httpd, 1)
    assert state["problems"] and state["scene"]["name"] == "small"  # the last good picture stays
    assert not any("internal error" in p["message"] for p in state["problems"]), state["problems"]
    assert _get(httpd, "/")[0] == 200


def test_deleted_spec_is_a_problem_not_a_crash(served):
    httpd, spec = served
    spec.unlink()
    state = _wait_version(httpd, 1)
    assert "no such spec file" in state["problems"][0]["message"]
    spec.write_text(SPEC)
    assert _wait_version(httpd, 2)["problems"] == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_view_command_stops_cleanly(tmp_path, signum):
    spec = tmp_path / "net.yaml"
    spec.write_text(SPEC)
    code = "import sys; from archspec.cli import main; main(['view', sys.argv[1], '--port', '0'])\nprint('unreachable')"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(spec)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    first = proc.stdout.readline()
    port = re.search(r"http://127\.0\.0\.1:(\d+)/", first).group(1)
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)
    conn.request("GET", "/events")  # an open event stream must not keep the process alive
    assert conn.getresponse().status == 200
    conn2 = http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)
    conn2.request("GET", "/api/state")
    assert json.loads(conn2.getresponse().read())["problems"] == []
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "archspec view: stopped" in out and "Traceback" not in err


def test_view_refuses_missing_file_and_busy_port(tmp_path, served):
    result = CliRunner().invoke(main, ["view", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "no such file" in result.output
    httpd, spec = served
    busy = CliRunner().invoke(main, ["view", str(spec), "--port", str(httpd.server_address[1])])
    assert busy.exit_code == 2 and "try --port 0" in busy.output


def test_view_state_does_not_import_tensorflow(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(SPEC)
    code = (
        "import sys; from archspec.view import server;"
        "s = server.SpecState(__import__('pathlib').Path(sys.argv[1])).state(server.Options());"
        "assert s['problems'] == [], s['problems'];"
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_resnet50_is_served(tmp_path):
    """The issue's example: `archspec view specs/resnet50.yaml`, its state as `summary` gives it."""
    httpd, stop_event = server.start(ROOT / "specs" / "resnet50.yaml", port=0)
    try:
        state = _state(httpd)
    finally:
        server.stop(httpd, stop_event)
    assert state["problems"] == []
    assert state["scene"]["totals"]["total_params"] == 25_636_712
