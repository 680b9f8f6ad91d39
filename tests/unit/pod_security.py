"""The Pod Security Standards' "restricted" profile, as rules over a pod spec.

The schema says a manifest is well formed; a namespace labelled
pod-security.kubernetes.io/enforce=restricted refuses pods that break these rules, which the
schema knows nothing of. They follow https://kubernetes.io/docs/concepts/security/pod-security-standards/
(the baseline controls, which restricted includes, then restricted's own), for Linux pods.

`violations` returns what a pod breaks, one sentence each; an empty list is a pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# Baseline: the sysctls a pod may set, namespaced and isolated from the node.
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})
# Restricted: the volume types a pod may use (hostPath and the node-bound ones are out).
VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
SECCOMP_TYPES = frozenset({"RuntimeDefault", "Localhost"})
# Restricted drops every capability; this one alone may be added back.
ADDABLE_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})


def all_containers(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        yield from pod.get(field) or []


def violations(pod: dict[str, Any]) -> list[str]:
    pod_context = pod.get("securityContext") or {}
    found = [*_host_namespaces(pod), *_pod_context(pod_context), *_volumes(pod)]
    for container in all_containers(pod):
        found.extend(_container(container, pod_context))
    return found


def _host_namespaces(pod: dict[str, Any]) -> Iterator[str]:
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            yield f"the pod sets {field}"


def _pod_context(context: dict[str, Any]) -> Iterator[str]:
    for sysctl in context.get("sysctls") or []:
        if sysctl["name"] not in SAFE_SYSCTLS:
            yield f"the pod sets the unsafe sysctl {sysctl['name']}"
    if context.get("runAsUser") == 0:
        yield "the pod runs as uid 0"
    yield from _selinux("the pod", context)
    yield from _windows("the pod", context)
    profile = (context.get("seccompProfile") or {}).get("type")
    if profile is not None and profile not in SECCOMP_TYPES:
        yield f"the pod's seccomp profile is {profile}"
    apparmor = (context.get("appArmorProfile") or {}).get("type")
    if apparmor == "Unconfined":
        yield "the pod's AppArmor profile is Unconfined"


def _volumes(pod: dict[str, Any]) -> Iterator[str]:
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= VOLUME_TYPES:
            yield f"volume {volume['name']} is of a type restricted forbids: {sorted(kinds)}"


def _container(container: dict[str, Any], pod_context: dict[str, Any]) -> Iterator[str]:
    name = f"container {container['name']}"
    context = container.get("securityContext") or {}
    if context.get("privileged"):
        yield f"{name} is privileged"
    if context.get("allowPrivilegeEscalation") is not False:
        yield f"{name} does not set allowPrivilegeEscalation: false"
    if context.get("procMount", "Default") != "Default":
        yield f"{name} sets procMount {context['procMount']}"
    capabilities = context.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        yield f"{name} does not drop ALL capabilities"
    if added := set(capabilities.get("add") or []) - ADDABLE_CAPABILITIES:
        yield f"{name} adds the capabilities {sorted(added)}"
    if context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is not True:
        yield f"{name} may run as root (runAsNonRoot is not true)"
    if context.get("runAsUser") == 0:
        yield f"{name} runs as uid 0"
    profile = (context.get("seccompProfile") or pod_context.get("seccompProfile") or {}).get("type")
    if profile not in SECCOMP_TYPES:
        yield f"{name} has no RuntimeDefault or Localhost seccomp profile"
    apparmor = (context.get("appArmorProfile") or {}).get("type")
    if apparmor == "Unconfined":
        yield f"{name}'s AppArmor profile is Unconfined"
    yield from _selinux(name, context)
    yield from _windows(name, context)
    for port in container.get("ports") or []:
        if port.get("hostPort"):
            yield f"{name} binds host port {port['hostPort']}"


def _selinux(name: str, context: dict[str, Any]) -> Iterator[str]:
    options = context.get("seLinuxOptions") or {}
    if options.get("type", "") not in SELINUX_TYPES:
        yield f"{name} sets the SELinux type {options['type']}"
    for field in ("user", "role"):
        if options.get(field):
            yield f"{name} sets the SELinux {field}"


def _windows(name: str, context: dict[str, Any]) -> Iterator[str]:
    if (context.get("windowsOptions") or {}).get("hostProcess"):
        yield f"{name} is a Windows host process"
