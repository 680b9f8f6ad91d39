"""infra/k8s: valid against Kubernetes' own schemas, accepted by a restricted namespace, and
every name in it exists.

kubernetes-validate carries the OpenAPI schemas of each Kubernetes release; KEDA's
ScaledObject is a custom resource whose CRD no registry package ships, so it is checked
structurally against the fields KEDA's rabbitmq scaler reads.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from shared.config import ENVIRONMENT, Settings
from tests.unit import pod_security
from worker.worker import HAND_BACK_WAIT

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "k8s"
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
# The Secret every workload reads: not in infra/k8s (a placeholder there could be applied as
# is); it comes from the cluster's secret store or the operator's own secretGenerator.
SECRET_NAME = "reportbox-secrets"
SECRET_KEYS = frozenset(
    {"DATABASE_URL", "RABBITMQ_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "JWT_PUBLIC_KEY"}
)
EPHEMERAL_STORAGE = "ephemeral-storage"


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
    assert set(deployments) == {
        "reportbox-api",
        "reportbox-relay",
        "reportbox-worker",
        "reportbox-dispatcher",
    }
    assert set(by_kind("Job")) == {"reportbox-migrate"}
    assert set(by_kind("PodDisruptionBudget")) == {"reportbox-api", "reportbox-worker"}
    for deployment in deployments.values():
        probes = container(deployment)
        assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_every_setting_named_is_one_the_settings_module_reads():
    config = by_kind("ConfigMap")["reportbox-config"]["data"]
    assert set(config) | SECRET_KEYS <= set(ENVIRONMENT.values())
    assert not set(config) & SECRET_KEYS
    for workload in [*by_kind("Deployment").values(), *by_kind("Job").values()]:
        refs = container(workload)["envFrom"]
        assert {ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in refs} == {
            "reportbox-config",
            SECRET_NAME,
        }


def test_mail_goes_over_tls_and_a_relay_login_can_only_come_from_the_secret():
    url = urlsplit(by_kind("ConfigMap")["reportbox-config"]["data"]["SMTP_URL"])
    assert url.scheme in ("smtp+starttls", "smtps") and url.hostname
    assert url.username is None and url.password is None, "a password in the ConfigMap"
    # The Secret may hold SMTP_URL with a login: envFrom's last source wins, so it must be
    # the last, after the ConfigMap.
    dispatcher = container(by_kind("Deployment")["reportbox-dispatcher"])
    assert [next(iter(ref)) for ref in dispatcher["envFrom"]] == ["configMapRef", "secretRef"]


def test_no_secret_with_placeholder_values_is_applied():
    assert by_kind("Secret") == {}


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
    for name in ("reportbox-relay", "reportbox-worker", "reportbox-dispatcher"):
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
    assert metadata["hostFromEnv"] in SECRET_KEYS
    assert set(metadata) <= {"protocol", "queueName", "mode", "value", "hostFromEnv", "vhostName"}


def pod_templates() -> dict[str, dict]:
    return {
        f"{doc['kind']}/{doc['metadata']['name']}": doc["spec"]["template"]["spec"]
        for doc in resources()
        if "template" in doc.get("spec", {})
    }


def test_the_workloads_are_the_ones_checked_for_pod_security():
    assert set(pod_templates()) == {
        "Deployment/reportbox-api",
        "Deployment/reportbox-relay",
        "Deployment/reportbox-worker",
        "Deployment/reportbox-dispatcher",
        "Job/reportbox-migrate",
    }


@pytest.mark.parametrize("name", sorted(pod_templates()))
def test_each_pod_meets_the_restricted_pod_security_standard(name):
    assert pod_security.violations(pod_templates()[name]) == []


# The checker itself: a pod as the manifests had it before (runAsNonRoot and a uid only), and
# one that breaks the baseline too, must each be refused for what they break.
PERMISSIVE_POD = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
    "containers": [{"name": "app", "image": "reportbox"}],
}


def test_the_checker_refuses_a_pod_that_only_avoids_root():
    assert pod_security.violations(PERMISSIVE_POD) == [
        "container app does not set allowPrivilegeEscalation: false",
        "container app does not drop ALL capabilities",
        "container app has no RuntimeDefault or Localhost seccomp profile",
    ]


def test_the_checker_refuses_what_the_baseline_refuses():
    pod = {
        "hostNetwork": True,
        "securityContext": {
            "seccompProfile": {"type": "Unconfined"},
            "sysctls": [{"name": "kernel.msgmax", "value": "1"}],
        },
        "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
        "initContainers": [
            {
                "name": "setup",
                "ports": [{"containerPort": 80, "hostPort": 80}],
                "securityContext": {
                    "privileged": True,
                    "allowPrivilegeEscalation": False,
                    "runAsNonRoot": True,
                    "runAsUser": 0,
                    "capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN", "NET_BIND_SERVICE"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
            }
        ],
    }
    assert pod_security.violations(pod) == [
        "the pod sets hostNetwork",
        "the pod sets the unsafe sysctl kernel.msgmax",
        "the pod's seccomp profile is Unconfined",
        "volume root is of a type restricted forbids: ['hostPath']",
        "container setup is privileged",
        "container setup adds the capabilities ['SYS_ADMIN']",
        "container setup runs as uid 0",
        "container setup binds host port 80",
    ]


@pytest.mark.parametrize("name", sorted(pod_templates()))
def test_each_pod_writes_only_to_a_size_limited_tmp_and_has_no_api_token(name):
    pod = pod_templates()[name]
    assert pod["automountServiceAccountToken"] is False
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    for spec in pod_security.all_containers(pod):
        assert spec["securityContext"]["readOnlyRootFilesystem"] is True
        (mount,) = [m for m in spec["volumeMounts"] if m["mountPath"] == "/tmp"]
        assert volumes[mount["name"]]["emptyDir"]["sizeLimit"]


@pytest.mark.parametrize("name", sorted(pod_templates()))
def test_each_container_requests_and_limits_cpu_memory_and_ephemeral_storage(name):
    pod = pod_templates()[name]
    tmp = {v["name"]: v["emptyDir"]["sizeLimit"] for v in pod["volumes"] if "emptyDir" in v}
    for spec in pod_security.all_containers(pod):
        resources = spec["resources"]
        for bound in ("requests", "limits"):
            assert set(resources[bound]) == {"cpu", "memory", EPHEMERAL_STORAGE}, bound
        # /tmp counts against the container's ephemeral storage: a full /tmp must not be
        # what evicts the pod before the emptyDir's own limit says so.
        assert quantity(resources["limits"][EPHEMERAL_STORAGE]) > sum(
            quantity(tmp[m["name"]]) for m in spec["volumeMounts"] if m["name"] in tmp
        )


def quantity(text: str) -> int:
    """Bytes in a Kubernetes quantity with a binary suffix (all this folder uses)."""
    suffixes = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
    for suffix, factor in suffixes.items():
        if text.endswith(suffix):
            return int(text.removesuffix(suffix)) * factor
    return int(text)


def test_only_the_api_takes_traffic_and_relay_and_worker_only_scrapes_from_monitoring():
    policies = by_kind("NetworkPolicy")
    deny = policies["reportbox-deny-ingress"]["spec"]
    assert deny["podSelector"] == {"matchLabels": {"app.kubernetes.io/part-of": "reportbox"}}
    assert deny["policyTypes"] == ["Ingress"] and not deny.get("ingress")

    api = policies["reportbox-api-ingress"]["spec"]
    (rule,) = api["ingress"]
    assert "from" not in rule and rule["ports"] == [{"protocol": "TCP", "port": "http"}]
    api_ports = container(by_kind("Deployment")["reportbox-api"])["ports"]
    assert [port["name"] for port in api_ports] == ["http"]

    metrics = policies["reportbox-metrics-from-monitoring"]["spec"]
    selected = {
        name
        for name, deployment in by_kind("Deployment").items()
        if selects(metrics["podSelector"], deployment["spec"]["template"]["metadata"]["labels"])
    }
    assert selected == {"reportbox-relay", "reportbox-worker", "reportbox-dispatcher"}
    (rule,) = metrics["ingress"]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    assert rule["ports"] == [{"protocol": "TCP", "port": "metrics"}]
    assert set(policies) == {
        "reportbox-deny-ingress",
        "reportbox-api-ingress",
        "reportbox-metrics-from-monitoring",
    }


def selects(selector: dict, labels: dict) -> bool:
    """A label selector's meaning, for the matchLabels and the In operator used here."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def test_gunicorn_has_a_writable_home_for_its_control_socket():
    # gunicorn writes its control socket under HOME; the image's user has no home directory
    # and the root file system is read-only, so HOME must be the writable /tmp.
    api = container(by_kind("Deployment")["reportbox-api"])
    assert api["command"][0] == "gunicorn"
    assert {"name": "HOME", "value": "/tmp"} in api["env"]
