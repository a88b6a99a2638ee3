"""The Kubernetes manifests (deploy/k8s, kustomize) validate against the Kubernetes schemas and
describe the same stack as compose: replicas behind a headless Service, controller and metrics
Deployments, PostgreSQL as a StatefulSet."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

kubernetes_validate = pytest.importorskip("kubernetes_validate")

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
VERSION = "1.33.0"  # a recent released Kubernetes; the schemas ship with kubernetes-validate


def _resources() -> list[tuple[str, dict]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    out = []
    for name in kustomization["resources"]:
        out += [(name, doc) for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]
    return out


def test_every_resource_validates_strictly():
    resources = _resources()
    assert len(resources) == 9
    for name, doc in resources:
        kubernetes_validate.validate(doc, VERSION, strict=True)  # raises ValidationError with the path


def test_the_manifests_describe_the_compose_stack():
    kinds = {(doc["kind"], doc["metadata"]["name"]): doc for _, doc in _resources()}
    assert kinds[("Service", "cluster")]["spec"]["clusterIP"] == "None"  # headless: DNS lists every replica
    assert {("Deployment", n) for n in ("cluster", "controller", "metrics")} <= kinds.keys()
    assert ("StatefulSet", "postgres") in kinds
    env = {e["name"]: e for e in kinds[("Deployment", "controller")]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["TWIN_CLUSTER_ADDR"]["value"] == "dns:///cluster:50061"


def test_a_broken_manifest_is_caught():
    _, deployment = next(r for r in _resources() if r[1]["kind"] == "Deployment")
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSION, strict=True)
