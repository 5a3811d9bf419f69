"""The Kubernetes manifests and the Containerfile: valid offline against the API schemas,
hardened (non-root, read-only root, limits, a liveness probe), with ckptguard arguments
the CLI accepts; and the liveness probe's command judged against a real daemon."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import REPO, settings_for, wait_for

MANIFESTS = sorted((REPO / "deploy" / "kubernetes").glob("*.yaml"))
RUN = "/run/ckptguard"  # the runtime directory's volume: where the status files go
KUBERNETES = "1.30.0"  # the oldest version the manifests are meant for (native sidecars)


def documents() -> list[tuple[Path, dict[str, Any]]]:
    yaml = pytest.importorskip("yaml", reason="needs PyYAML (comes with kubernetes-validate)")
    found = []
    for path in MANIFESTS:
        found += [(path, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return found


def guard_containers() -> list[tuple[Path, dict[str, Any], dict[str, Any]]]:
    """(manifest, pod spec, container) for every ckptguard container."""
    found = []
    for path, document in documents():
        spec = document.get("spec", {}).get("template", {}).get("spec")
        if spec is None:
            continue
        for container in spec.get("initContainers", []) + spec.get("containers", []):
            if container["image"].startswith("ckptguard"):
                found.append((path, spec, container))
    return found


def test_manifests_validate_offline() -> None:
    """Every resource passes kubernetes-validate's strict schema check, offline."""
    validate = pytest.importorskip("kubernetes_validate", reason="needs kubernetes-validate")
    assert MANIFESTS
    for _, document in documents():
        validate.validate(document, KUBERNETES, strict=True)  # raises on any problem
    kinds = {d["kind"] for _, d in documents()}
    assert {"Job", "Deployment"} <= kinds


def test_guard_containers_are_hardened() -> None:
    """Non-root, read-only root filesystem, no privilege escalation, limits, and a
    liveness probe that asks ckptguard itself about the directory it guards, with the
    status files on a volume of their own."""
    containers = guard_containers()
    assert len(containers) == 3
    for path, spec, container in containers:
        pod, own = spec["securityContext"], container["securityContext"]
        assert pod["runAsNonRoot"] and pod["runAsUser"] != 0, path
        assert own["readOnlyRootFilesystem"] and not own["allowPrivilegeEscalation"], path
        assert own["capabilities"]["drop"] == ["ALL"], path
        assert {"cpu", "memory"} <= set(container["resources"]["limits"]), path
        guarded = next(a for a in container["args"] if a.startswith("--dir="))
        probe = container["livenessProbe"]["exec"]["command"]
        assert probe == ["ckptguard", "status", guarded, "--alive"], path
        assert {"name": "RUNTIME_DIRECTORY", "value": RUN} in container["env"], path
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {RUN, "/var/lib/ckptguard"} <= mounts, path


def test_guard_arguments_are_accepted() -> None:
    """Each container's arguments parse and build settings (as check-config would), and
    its probe's arguments name the same directory."""
    from ckptguard.face.commands import settings_of
    from ckptguard.face.parser import build_parser

    for path, _, container in guard_containers():
        args = build_parser().parse_args(container["args"])
        assert args.command == "run", path
        guarded = [spec.path for spec in settings_of(args).guards]
        probe = build_parser().parse_args(container["livenessProbe"]["exec"]["command"][1:])
        assert probe.command == "status" and probe.alive, path
        assert [spec.path for spec in settings_of(probe).guards] == guarded, path


def test_liveness_probe_follows_the_daemon(
    tmp_path: Path, runtime_directory: Path, spawn: Callable[..., Any]
) -> None:
    """The sidecar's own probe command, against a real daemon started with the sidecar's
    own arguments: it fails before the daemon runs, passes while it runs, fails while it
    hangs (SIGSTOP) and passes again once it goes on, and fails once it stopped or was
    killed (SIGKILL), one line each time."""
    _, _, container = guard_containers()[0]
    models, state = tmp_path / "models", tmp_path / "state"
    models.mkdir()
    state.mkdir()
    places = {"/checkpoints/models": str(models), "/var/lib/ckptguard": str(state)}
    places[RUN] = str(runtime_directory)
    args = [moved(a, places) for a in container["args"][1:]]  # less "run"
    env = {e["name"]: moved(e["value"], places) for e in container["env"]}
    command = container["livenessProbe"]["exec"]["command"]
    probe = [sys.executable, "-m", *(moved(a, places) for a in command)]

    def passes() -> bool:
        result = subprocess.run(
            probe, capture_output=True, text=True, env={**os.environ, **env}, check=False
        )
        assert len(result.stdout.splitlines()) == 1 and not result.stderr, result
        assert result.stdout.startswith("alive: " if result.returncode == 0 else "not alive: ")
        return result.returncode == 0

    assert not passes()
    # Its loop turns every 0.5 s: the status is refreshed every second, 3 s is too old.
    guard = spawn(*args, "--free-check-interval=0.5", env=env).expect_ready()
    wait_for(passes, message="the probe to pass")
    os.kill(guard.pid, signal.SIGSTOP)
    try:
        wait_for(lambda: not passes(), timeout=30, message="the probe to fail while hung")
    finally:
        os.kill(guard.pid, signal.SIGCONT)
    wait_for(passes, message="the probe to pass again")
    guard.stop()
    wait_for(lambda: not passes(), message=f"{shlex.join(probe)} to fail once stopped")
    killed = spawn(*args, "--free-check-interval=0.5", env=env).expect_ready()
    wait_for(passes, message="the probe to pass for a new guard")
    killed.stop(signal.SIGKILL)
    wait_for(lambda: not passes(), message="the probe to fail once the guard was killed")


def test_the_alive_file_still_works(tmp_path: Path, start_daemon: Any) -> None:
    """`--alive-file`, the older way, is still touched while the daemon runs and removed
    when it stops."""
    from ckptguard.service.notify import Notifier

    alive = tmp_path / "alive"
    guarded = tmp_path / "models"
    guarded.mkdir()
    daemon = start_daemon(settings_for(guarded), notifier=Notifier({}, alive_file=str(alive)))
    wait_for(alive.exists, message="the alive file")
    daemon.request_stop()
    wait_for(lambda: not alive.exists(), message="the alive file to go once stopped")


def moved(text: str, places: dict[str, str]) -> str:
    """`text` with each of the manifests' paths replaced by the test's own."""
    for theirs, ours in places.items():
        text = text.replace(theirs, ours)
    return text


def test_containerfile_runs_as_a_numeric_non_root_user() -> None:
    """The image's USER is numeric and not 0, so runAsNonRoot can verify it."""
    text = (REPO / "deploy" / "Containerfile").read_text()
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    assert 'ENTRYPOINT ["ckptguard"]' in text
