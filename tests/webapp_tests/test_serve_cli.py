"""`curate serve`: options, the loud warning off loopback, the URL printed and opened, a bad
catalog as one line, and the real command answering on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

import curation.web
from curation.cli import app
from curation.web.guard import host_name, is_loopback
from curation.web.server import allowed_hosts

runner = CliRunner()


@pytest.fixture
def calls(monkeypatch):
    """What `curate serve` asked of the server and the browser (neither really starts)."""
    seen: dict = {"opened": []}

    def fake_serve(path, *, host, port, allow_hosts, on_ready):
        seen.update(path=path, host=host, port=port, allow_hosts=list(allow_hosts))
        on_ready(f"http://{host}:4321/")

    monkeypatch.setattr(curation.web, "serve", fake_serve)
    monkeypatch.setattr("webbrowser.open", lambda url: seen["opened"].append(url))
    return seen


def test_serve_defaults_to_loopback_and_opens_the_url(calls, catalog_path):
    result = runner.invoke(app, ["serve", "--catalog", str(catalog_path)])
    assert result.exit_code == 0, result.output
    assert calls["host"] == "127.0.0.1" and calls["port"] == 0
    assert "http://127.0.0.1:4321/" in result.output and "WARNING" not in result.output
    assert calls["opened"] == ["http://127.0.0.1:4321/"]


def test_serve_off_loopback_says_so_loudly(calls, catalog_path):
    args = ["serve", "--catalog", str(catalog_path), "--host", "0.0.0.0", "--no-open"]
    result = runner.invoke(app, [*args, "--allow-host", "box.lan"])
    assert result.exit_code == 0, result.output
    assert "WARNING: listening on 0.0.0.0" in result.output
    assert calls["opened"] == [] and calls["allow_hosts"] == ["box.lan"]


def test_serve_with_a_bad_catalog_is_one_line_and_exit_1(calls, tmp_path):
    result = runner.invoke(app, ["serve", "--catalog", str(tmp_path / "no" / "catalog.db")])
    assert result.exit_code == 1 and "does not exist" in result.output
    assert "path" not in calls


def test_host_names_and_loopback():
    assert host_name("[::1]:8000") == "::1" and host_name("LocalHost:80") == "localhost"
    assert host_name("evil.example") == "evil.example"
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert allowed_hosts("127.0.0.1") == {"127.0.0.1", "localhost", "::1"}
    assert "192.168.1.5" in allowed_hosts("192.168.1.5") and "x.lan" in allowed_hosts(
        "127.0.0.1", ["X.lan"]
    )


@pytest.mark.slow
def test_the_real_command_answers_until_ctrl_c(catalog_path):
    curate = Path(sys.executable).with_name("curate")
    proc = subprocess.Popen(
        [str(curate), "serve", "--no-open", "--catalog", str(catalog_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("curate serve: http://127.0.0.1:"), line
        url = line.split()[2]
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200 and b"curate serve" in response.read()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
