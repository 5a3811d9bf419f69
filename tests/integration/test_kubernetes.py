"""The Kubernetes manifests and the Containerfile: valid offline against the API schemas,
hardened (non-root, read-only root, limits, a liveness probe), with ckptguard arguments
the CLI accepts; and the liveness probe's command judged against a real daemon."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import REPO, settings_for, wait_for

MANIFESTS = sorted((REPO / "deploy" / "kubernetes").glob("*.yaml"))
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
    """Non-root, read-only root filesystem, no privilege escalation, limits, liveness."""
    containers = guard_containers()
    assert len(containers) == 3
    for path, spec, container in containers:
        pod, own = spec["securityContext"], container["securityContext"]
        assert pod["runAsNonRoot"] and pod["runAsUser"] != 0, path
        assert own["readOnlyRootFilesystem"] and not own["allowPrivilegeEscalation"], path
        assert own["capabilities"]["drop"] == ["ALL"], path
        assert {"cpu", "memory"} <= set(container["resources"]["limits"]), path
        assert "--alive-file=/run/ckptguard/alive" in container["args"], path
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/run/ckptguard", "/var/lib/ckptguard"} <= mounts, path


def test_guard_arguments_are_accepted() -> None:
    """Each container's arguments parse and build settings (as check-config would)."""
    from ckptguard.face.commands import settings_of
    from ckptguard.face.parser import build_parser

    for path, _, container in guard_containers():
        args = build_parser().parse_args(container["args"])
        assert args.command == "run", path
        settings = settings_of(args)
        assert settings.alive_file == "/run/ckptguard/alive", path


def test_liveness_probe_follows_the_daemon(tmp_path: Path, start_daemon: Any) -> None:
    """The probe's own command passes while a daemon runs with --alive-file, and fails once
    it stopped (the file is removed) or was never started."""
    from ckptguard.service.notify import Notifier

    _, _, container = guard_containers()[0]
    command = container["livenessProbe"]["exec"]["command"]
    alive = tmp_path / "alive"
    probe = [
        sys.executable,
        *command[1:-1],
        command[-1].replace("/run/ckptguard/alive", str(alive)),
    ]

    def passes() -> bool:
        return subprocess.run(probe, capture_output=True, check=False).returncode == 0

    assert not passes()
    guarded = tmp_path / "models"
    guarded.mkdir()
    daemon = start_daemon(settings_for(guarded), notifier=Notifier({}, alive_file=str(alive)))
    wait_for(passes, message="the probe to pass")
    daemon.request_stop()
    wait_for(lambda: not passes(), message=f"{shlex.join(probe)} to fail once stopped")


def test_containerfile_runs_as_a_numeric_non_root_user() -> None:
    """The image's USER is numeric and not 0, so runAsNonRoot can verify it."""
    text = (REPO / "deploy" / "Containerfile").read_text()
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    assert 'ENTRYPOINT ["ckptguard"]' in text
