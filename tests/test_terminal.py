"""Device data is printed as data: no rich markup, no terminal escapes from the cluster."""

from __future__ import annotations

import pytest

SLICE = """apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: s1}
spec:
  driver: gpu.nvidia.com
  nodeName: "n[red]1"
  pool: {name: "n[red]1", generation: 1, resourceSliceCount: 1}
  devices:
  - name: gpu-0
    attributes:
      productName: {string: "[bold]x[/bold] \\x1b[31mred"}
      type: {string: gpu}
    capacity:
      memory: {value: 80Gi}
"""


@pytest.fixture
def dump(tmp_path):
    path = tmp_path / "slice.yaml"
    path.write_text(SLICE)
    return str(path)


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--color", "always"],
        ["list", "-o", "wide", "--color", "always"],
        ["show", "gpu-0"],
        ["topology", "n[red]1", "--color", "always"],
        ["attributes"],
    ],
)
def test_markup_and_escapes_in_device_data_print_literally(run, dump, args):
    result = run(*args, "-f", dump)
    assert result.exit_code == 0, result.stderr
    assert "[bold]x[/bold]" in result.stdout
    assert "n[red]1" in result.stdout or args[0] == "attributes"
    assert "\x1b[31mred" not in result.stdout  # the escape from the data is neutralised
    assert "\x1b[1mx" not in result.stdout  # the markup did not become bold


class _Tty:
    def __init__(self, tty: bool):
        self.tty = tty
        self.text = ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


def test_spinner_only_on_a_terminal_and_only_when_slow(monkeypatch):
    import time

    from kubectl_dra.console import Spinner

    monkeypatch.delenv("KUBECTL_DRA_NO_SPINNER", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    fast, slow, piped = _Tty(True), _Tty(True), _Tty(False)
    with Spinner("reading", delay=3600, stream=fast):
        pass  # done long before the delay: nothing shown
    with Spinner("reading", delay=0.0, interval=0.01, stream=slow):
        guard = time.monotonic() + 10  # a hang guard, not a measurement
        while "reading" not in slow.text:
            assert time.monotonic() < guard, "the spinner never drew on a terminal"
            time.sleep(0.01)
    with Spinner("reading", delay=0.0, stream=piped) as spinner:
        assert spinner._thread is None  # not a terminal: no spinner thread at all
    assert fast.text == ""
    assert "reading" in slow.text and slow.text.endswith("\r\x1b[2K")  # the line is cleared at the end
    assert piped.text == ""
