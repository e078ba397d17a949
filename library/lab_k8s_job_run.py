#!/usr/bin/python
"""Run one experiment run as a Kubernetes Indexed Job (thin wrapper over labkit.backends.k3s)."""
from __future__ import annotations

DOCUMENTATION = r"""
module: lab_k8s_job_run
short_description: Run one experiment run as a Kubernetes Indexed Job and collect every pod's result
description:
  - Creates the Job given as C(manifest), polls it until it is Complete or Failed
    (C(kubernetes.core.k8s) with C(wait) does not wait for a Job to finish), reads
    B(every) pod's log (C(kubernetes.core.k8s_log) on a Job returns only the first pod's)
    and returns the run record with each pod's phases; T_e2e runs from submit to the
    moment the last pod is seen finished, on the controller's monotonic clock.
  - Deletes the Job afterwards (propagation Background) unless I(keep) is set.
  - Fails naming the failed or stuck pods, their state and the tail of their logs,
    and the Job's warning events (for example a pod refused by Pod Security admission).
  - The work is done by C(labkit.backends.k3s.run_indexed_job); the connection options
    (I(kubeconfig), I(context), I(host), I(api_key), I(validate_certs) ...) are
    kubernetes.core's, read the same way as by C(kubernetes.core.k8s_info).
  - In check mode it returns without contacting the cluster.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  manifest:
    description: The batch/v1 Job to create, as a dict (the pi role builds it with the lab_pi_job filter).
    type: dict
    required: true
  run:
    description: The planned run (from M(lab_pi_plan)) this Job executes; its C(run_id)
      and C(workers) are checked against the manifest and the results.
    type: dict
    required: true
  namespace:
    description: Namespace of the Job; must agree with the manifest's, if it names one.
    type: str
    required: true
  container:
    description: Name of the worker container in the pod.
    type: str
    default: worker
  timeout:
    description: Seconds from submit until the Job must have finished.
    type: float
    default: 3600
  start_timeout:
    description: Seconds after submit by which some worker container must have started; a
      container waiting for a reason that does not pass (ImagePullBackOff ...) gives up at once.
    type: float
    default: 300
  poll_interval:
    description: Seconds between two status polls; the makespan is measured to this resolution.
    type: float
    default: 0.5
  request_timeout:
    description: Seconds any one API request during the run may take (a frozen server must not hang it).
    type: float
    default: 30
  keep:
    description: Keep the Job and its pods after the run (for kubectl inspection).
    type: bool
    default: false
  log_tail_lines:
    description: Lines of a failed pod's log quoted in the failure message.
    type: int
    default: 10
requirements:
  - kubernetes (Python client)
author: Pi cluster lab
"""

EXAMPLES = r"""
- name: Run each planned point as an Indexed Job
  lab_k8s_job_run:
    manifest: "{{ item | lab_pi_job(pi_k3s_job, 'python') }}"
    run: "{{ item }}"
    namespace: lab
    kubeconfig: artifacts/pi-cluster/kubeconfig.yaml
  loop: "{{ plan.runs }}"
  loop_control:
    label: "{{ item.label }}"
"""

RETURN = r"""
run:
  description: The run record (docs/ARCHITECTURE.md); every result carries C(pod) and the
    phase fields C(scheduling_s), C(start_s), C(runtime_start_s), C(exit_s)
    (one-second resolution, see labkit.k8s_jobs); C(queued_pods) counts pods that waited for a core.
  type: dict
  returned: always
job:
  description: Name, namespace, final state (Complete, Failed, Timeout or "Stuck, <why>"), and whether it was deleted.
  type: dict
  returned: always
lab_progress:
  description: One line saying which run, how many results came in and in what time.
  type: str
  returned: always
"""

import copy
import os

from ansible.module_utils.labkit.backends.k3s import (
    JobNotCreated,
    check_job_manifest,
    progress_line,
    run_indexed_job,
)
from ansible.module_utils.labkit.runs import PlannedRun, run_record
from ansible.module_utils.labkit.text import plural
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule

try:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError
except ImportError:  # AnsibleK8SModule reports the missing kubernetes client first
    ApiException = HTTPError = OSError


def argument_spec() -> dict:
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(
        manifest={"type": "dict", "required": True},
        run={"type": "dict", "required": True},
        namespace={"type": "str", "required": True},
        container={"type": "str", "default": "worker"},
        timeout={"type": "float", "default": 3600.0},
        start_timeout={"type": "float", "default": 300.0},
        poll_interval={"type": "float", "default": 0.5},
        request_timeout={"type": "float", "default": 30.0},
        keep={"type": "bool", "default": False},
        log_tail_lines={"type": "int", "default": 10},
    )
    return spec


def main() -> None:
    module = AnsibleK8SModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    planned = PlannedRun.from_dict(p["run"])
    label = planned.label or planned.run_id
    try:
        name, completions = check_job_manifest(p["manifest"], planned, p["namespace"])
    except ValueError as err:
        module.fail_json(msg=str(err))
    if module.check_mode:
        record = run_record(planned, None, [], ["check mode: the Job was not created"])
        module.exit_json(changed=True, run=record.to_dict(),
                         job={"name": name, "namespace": p["namespace"], "state": None, "deleted": False},
                         lab_progress=f"{label}: would run Job {name} ({plural(completions, 'pod')}) in {p['namespace']}")
    try:
        # kubernetes.core's client: the same connection options and environment (K8S_AUTH_*) as
        # its own modules. It asks the server for its version: an unreachable one fails here.
        api_client = get_api_client(module=module).client.client
    except (HTTPError, ApiException) as err:
        module.fail_json(msg=f"{label}: cannot reach the cluster to create Job {name}: {err}")
    except Exception as err:  # ConfigException (as CoreException), OSError, YAML errors
        # The path itself is not shown: kubernetes.core marks the kubeconfig option no_log.
        where = "the kubeconfig option" if p["kubeconfig"] else "$KUBECONFIG or ~/.kube/config"
        if isinstance(p["kubeconfig"], str) and not os.path.exists(os.path.expanduser(p["kubeconfig"])):
            where = "the kubeconfig option: no such file"
        module.fail_json(msg=f"cannot load kubeconfig ({where}): {err}")
    try:
        record, job = run_indexed_job(
            api_client, p["manifest"], planned, namespace=p["namespace"], timeout_s=p["timeout"],
            start_timeout_s=p["start_timeout"], poll_interval_s=p["poll_interval"],
            request_timeout_s=p["request_timeout"], keep=p["keep"], container=p["container"],
            log_tail_lines=p["log_tail_lines"])
    except (ValueError, JobNotCreated) as err:
        module.fail_json(msg=f"{label}: {err}")
    progress = progress_line(record, label)
    if record.problems:
        module.fail_json(msg=f"{label} failed: Job {name} in {p['namespace']}: " + "; ".join(record.problems),
                         run=record.to_dict(), job=job, lab_progress=progress, changed=True)
    module.exit_json(changed=True, run=record.to_dict(), job=job, lab_progress=progress)


if __name__ == "__main__":
    main()
