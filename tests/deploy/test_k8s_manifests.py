"""The Kubernetes manifests (deploy/k8s, kustomize) validate against the Kubernetes schemas and
describe the same stack as compose: replicas behind a headless Service, controller and metrics
Deployments, PostgreSQL as a StatefulSet; search workers as an Indexed Job."""

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
    assert len(resources) == 10
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


def _search_job() -> dict:
    return next(doc for _, doc in _resources() if doc["kind"] == "Job" and doc["metadata"]["name"] == "search")


def test_search_workers_are_an_indexed_job_sharing_one_study_in_the_stacks_database():
    from services.search_cmd import search

    job = _search_job()["spec"]
    assert job["completionMode"] == "Indexed" and job["parallelism"] == job["completions"] >= 2
    pod = job["template"]
    assert pod["metadata"]["labels"]["app.kubernetes.io/part-of"] == "lpu-twin"
    (container,) = pod["spec"]["containers"]
    controller = {(d["kind"], d["metadata"]["name"]): d for _, d in _resources()}[("Deployment", "controller")]
    env = {e["name"]: e for e in container["env"]}
    controller_env = {e["name"]: e for e in controller["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["TWIN_DATABASE_URL"] == controller_env["TWIN_DATABASE_URL"]  # the same secret's key
    args = [a.replace("$(TWIN_SEARCH_STUDY)", env["TWIN_SEARCH_STUDY"]["value"]) for a in container["args"]]
    assert container["command"] == ["twin", "search"]
    params = search.make_context("search", args).params  # the CLI takes every argument the pods give it
    assert params["study"] == env["TWIN_SEARCH_STUDY"]["value"] and params["workers"] == 1


def test_search_workers_run_unprivileged_within_limits():
    spec = _search_job()["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/tmp" in mounts  # the image's working directory stays writable on a read-only root
