"""The Kubernetes manifests (deploy/k8s, kustomize) validate against the Kubernetes schemas,
describe the same stack as compose (replicas behind a headless Service, controller and metrics
Deployments, PostgreSQL as a StatefulSet) and are safe by default, as rendered by kustomize with
secrets from deploy/make-secrets.sh: auth on with a generated token, no committed secret,
non-root read-only containers without capabilities, a NetworkPolicy that admits only the stack's
own pods, requests and limits on every container. Search workers run as an Indexed Job."""

from __future__ import annotations

import base64
import shutil
from collections import Counter
import subprocess
from pathlib import Path

import pytest
import yaml

kubernetes_validate = pytest.importorskip("kubernetes_validate")

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
VERSION = "1.33.0"  # a recent released Kubernetes; the schemas ship with kubernetes-validate
PART_OF = {"app.kubernetes.io/part-of": "lpu-twin"}
STACK = {"cluster", "controller", "metrics", "postgres"}
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


def _resources() -> list[tuple[str, dict]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    out = []
    for name in kustomization["resources"]:
        out += [(name, doc) for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]
    return out


def _kustomize(folder: Path) -> subprocess.CompletedProcess:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    return subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def secrets_file(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """deploy/k8s copied with a secrets.env that deploy/make-secrets.sh wrote, and its pairs."""
    folder = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, folder, ignore=shutil.ignore_patterns("secrets.env"))
    subprocess.run([str(ROOT / "deploy" / "make-secrets.sh"), str(folder / "secrets.env"), "postgres"],
                   check=True, capture_output=True)
    lines = (folder / "secrets.env").read_text().splitlines()
    return folder, dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@pytest.fixture(scope="module")
def rendered(secrets_file) -> list[dict]:
    done = _kustomize(secrets_file[0])
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def _pod_specs(rendered: list[dict]) -> list[tuple[str, dict]]:
    """(workload name, pod template) of every workload, CronJobs' jobs included."""
    out = []
    for doc in rendered:
        if doc["kind"] not in WORKLOADS:
            continue
        spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
        out.append((doc["metadata"]["name"], spec["template"]))
    return out


def _containers(pod: dict) -> list[dict]:
    return [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]


def test_every_resource_validates_strictly(rendered):
    kinds = Counter(doc["kind"] for doc in rendered)  # at least the stack (more workloads may join it)
    assert kinds >= Counter({"Deployment": 3, "NetworkPolicy": 1, "Secret": 1, "Service": 4, "StatefulSet": 1})
    assert kinds["Secret"] == kinds["NetworkPolicy"] == 1
    for doc in rendered:
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


def test_every_container_is_non_root_read_only_and_drops_every_capability(rendered):
    pods = _pod_specs(rendered)
    assert {name for name, _ in pods} >= STACK
    for name, pod in pods:
        pod_context = pod["spec"]["securityContext"]
        assert pod_context["runAsNonRoot"] is True and pod_context["runAsUser"] > 0, name
        assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["spec"]["automountServiceAccountToken"] is False, name
        for container in _containers(pod):
            context = container["securityContext"]
            assert context.get("runAsUser", pod_context["runAsUser"]) > 0, (name, container["name"])
            assert context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"] is True
            assert context["capabilities"] == {"drop": ["ALL"]}, (name, container["name"])  # and nothing added
            assert not context.get("privileged"), (name, container["name"])


def test_every_container_has_cpu_and_memory_requests_and_limits(rendered):
    for name, pod in _pod_specs(rendered):
        for container in _containers(pod):
            resources = container["resources"]
            for kind in ("requests", "limits"):
                assert set(resources[kind]) >= {"cpu", "memory"}, (name, container["name"], kind)
    memory = {name: pod["spec"]["containers"][0]["resources"]["limits"]["memory"]
              for name, pod in _pod_specs(rendered) if name in STACK}
    assert memory == {"cluster": "4Gi", "controller": "2Gi", "metrics": "1Gi", "postgres": "1Gi"}


def test_the_writable_folders_are_volumes(rendered):
    """A read-only root leaves /tmp (uploads, temporary files) and PostgreSQL's folders to volumes."""
    mounts = {name: {m["mountPath"] for m in pod["spec"]["containers"][0].get("volumeMounts", [])}
              for name, pod in _pod_specs(rendered) if name in STACK}
    assert all("/tmp" in paths for paths in mounts.values()), mounts
    assert {"/var/lib/postgresql/data", "/var/run/postgresql"} <= mounts["postgres"]
    postgres = dict(_pod_specs(rendered))["postgres"]["spec"]
    assert postgres["securityContext"]["fsGroup"] == postgres["securityContext"]["runAsUser"] == 999


def test_the_network_policy_admits_only_the_stacks_own_pods(rendered):
    (policy,) = [doc for doc in rendered if doc["kind"] == "NetworkPolicy"]
    spec = policy["spec"]
    assert spec["podSelector"] == {"matchLabels": PART_OF} and spec["policyTypes"] == ["Ingress"]
    peers = [peer for rule in spec["ingress"] for peer in rule["from"]]
    assert peers == [{"podSelector": {"matchLabels": PART_OF}}]  # no namespace, no address block, no open rule
    for name, pod in _pod_specs(rendered):  # so the policy selects, and admits, every pod of the stack
        assert pod["metadata"]["labels"].items() >= PART_OF.items(), name


def test_auth_is_on_with_the_generated_token(rendered, secrets_file):
    (secret,) = [doc for doc in rendered if doc["kind"] == "Secret"]
    generated = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert generated == secrets_file[1]
    assert len(generated["TWIN_AUTH_TOKEN"]) >= 32
    assert f":{generated['POSTGRES_PASSWORD']}@postgres:5432/" in generated["TWIN_DATABASE_URL"]
    ref = {"name": secret["metadata"]["name"]}
    servers = set()
    for name, pod in _pod_specs(rendered):
        for container in _containers(pod):
            env = {e["name"]: e for e in container.get("env", [])}
            assert "TWIN_AUTH" not in env, name  # never opted out
            if container.get("command", [])[:2] == ["twin", "serve"]:
                servers.add(name)
                assert "TWIN_AUTH_TOKEN" in env, name
            for key in {"TWIN_AUTH_TOKEN", "TWIN_DATABASE_URL", "POSTGRES_PASSWORD"} & env.keys():
                assert env[key]["valueFrom"]["secretKeyRef"] == {**ref, "key": key}, (name, key)  # never a value
    assert servers == {"cluster", "controller", "metrics"}
    postgres = dict(_pod_specs(rendered))["postgres"]["spec"]["containers"][0]
    assert {e["name"] for e in postgres["env"]} >= {"POSTGRES_PASSWORD"}


def test_without_the_secrets_file_kustomize_refuses_naming_it(tmp_path):
    shutil.copytree(K8S, tmp_path / "k8s", ignore=shutil.ignore_patterns("secrets.env"))
    done = _kustomize(tmp_path / "k8s")
    assert done.returncode != 0 and "secrets.env" in done.stderr


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
