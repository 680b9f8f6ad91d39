"""infra/k8s: valid against Kubernetes' own schemas, and every name in it exists.

kubernetes-validate carries the OpenAPI schemas of each Kubernetes release; KEDA's
ScaledObject is a custom resource whose CRD no registry package ships, so it is checked
structurally against the fields KEDA's rabbitmq scaler reads.
"""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from shared.config import ENVIRONMENT, Settings
from worker.worker import HAND_BACK_WAIT

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "k8s"
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())


def resources() -> list[dict]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return [
        document
        for name in kustomization["resources"]
        for document in yaml.safe_load_all((K8S / name).read_text())
        if document
    ]


def by_kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in resources() if doc["kind"] == kind}


def container(deployment: dict) -> dict:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def test_the_kustomization_lists_every_manifest_in_the_folder():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    on_disk = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == on_disk


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(
    "document",
    [doc for doc in resources() if not doc["apiVersion"].startswith("keda.sh/")],
    ids=lambda doc: f"{doc['kind']}/{doc['metadata']['name']}",
)
def test_each_core_resource_is_valid_for_kubernetes(document, version):
    kubernetes_validate.validate(document, version, strict=True)


def test_the_pieces_a_deployment_needs_are_there():
    deployments = by_kind("Deployment")
    assert set(deployments) == {"reportbox-api", "reportbox-relay", "reportbox-worker"}
    assert set(by_kind("Job")) == {"reportbox-migrate"}
    assert set(by_kind("PodDisruptionBudget")) == {"reportbox-api", "reportbox-worker"}
    for deployment in deployments.values():
        probes = container(deployment)
        assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_every_setting_named_is_one_the_settings_module_reads():
    config = by_kind("ConfigMap")["reportbox-config"]["data"]
    secret = by_kind("Secret")["reportbox-secrets"]["stringData"]
    assert set(config) | set(secret) <= set(ENVIRONMENT.values())
    assert not set(config) & set(secret)
    for workload in [*by_kind("Deployment").values(), *by_kind("Job").values()]:
        refs = container(workload)["envFrom"]
        assert {ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in refs} == {
            "reportbox-config",
            "reportbox-secrets",
        }


def test_every_command_names_something_the_image_has():
    for workload in [*by_kind("Deployment").values(), *by_kind("Job").values()]:
        command = container(workload)["command"]
        if command[:2] == ["python", "-m"]:
            assert (ROOT / command[2] / "__main__.py").exists(), command
        elif command[0] == "gunicorn":
            config = command[command.index("--config") + 1].removeprefix("python:")
            assert (ROOT / (config.replace(".", "/") + ".py")).exists()
            module, _, factory = command[-1].partition(":")
            assert (
                f"def {factory.removesuffix('()')}("
                in (ROOT / f"{module.replace('.', '/')}.py").read_text()
            )
        else:
            assert command == ["alembic", "upgrade", "head"]
            assert (ROOT / "alembic.ini").exists()


def test_relay_and_worker_probes_use_the_metrics_port_the_config_sets():
    port = int(by_kind("ConfigMap")["reportbox-config"]["data"]["METRICS_PORT"])
    for name in ("reportbox-relay", "reportbox-worker"):
        spec = container(by_kind("Deployment")[name])
        assert spec["ports"] == [{"name": "metrics", "containerPort": port}]
        assert spec["readinessProbe"]["httpGet"]["port"] == "metrics"


def test_the_kubelet_waits_longer_than_a_worker_needs_to_hand_back():
    grace = float(by_kind("ConfigMap")["reportbox-config"]["data"]["WORKER_SHUTDOWN_GRACE_SECONDS"])
    pod = by_kind("Deployment")["reportbox-worker"]["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > grace + HAND_BACK_WAIT


def test_selectors_select_the_pods_they_are_meant_for():
    deployments = by_kind("Deployment")
    for deployment in deployments.values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    api_labels = deployments["reportbox-api"]["spec"]["template"]["metadata"]["labels"]
    assert by_kind("Service")["reportbox-api"]["spec"]["selector"].items() <= api_labels.items()
    for name, budget in by_kind("PodDisruptionBudget").items():
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_the_worker_autoscaler_watches_the_work_queue_of_the_worker_deployment():
    (scaled,) = [doc for doc in resources() if doc["kind"] == "ScaledObject"]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] in by_kind("Deployment")
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    (trigger,) = spec["triggers"]
    metadata = trigger["metadata"]
    assert trigger["type"] == "rabbitmq"
    assert metadata["queueName"] == Settings().work_queue
    assert metadata["mode"] in {"QueueLength", "MessageRate"}
    assert int(metadata["value"]) >= 1
    assert metadata["hostFromEnv"] in by_kind("Secret")["reportbox-secrets"]["stringData"]
    assert set(metadata) <= {"protocol", "queueName", "mode", "value", "hostFromEnv", "vhostName"}
