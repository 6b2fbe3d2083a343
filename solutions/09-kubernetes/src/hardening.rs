//! What each pod runs and how: the image the build produces, started with
//! the right service; probes the program answers; a locked-down security
//! context; resources; and volumes for the data that must outlive a pod.

use k8s_openapi::api::core::v1::Probe;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::load::{Manifests, Problem};
use crate::pods::{Pod, show_port};
use crate::system::{
    BlogService, IMAGE, IMAGE_USER, LIVENESS_PATH, READINESS_PATH, SHUTDOWN_SECONDS,
};

// ANCHOR: deployments
/// One Deployment per blog service, named `<service>-depl`, running the
/// built image (never pulled) with the service's name as its argument.
pub fn deployments(manifests: &Manifests) -> Vec<Problem> {
    let (pods, mut problems) = Pod::all(manifests);
    let names: Vec<&str> = BlogService::ALL.iter().map(|s| s.name()).collect();
    for service in BlogService::ALL {
        let running: Vec<&Pod> = pods.iter().filter(|p| p.service == Some(service)).collect();
        match running.as_slice() {
            [] => problems.push(manifests.problem(
                "Deployment",
                format!(
                    "no Deployment runs the {0} service (a container with image {IMAGE} and args: [\"{0}\"])",
                    service.name()
                ),
            )),
            [_] => {}
            several => {
                for pod in several {
                    problems.push(pod.object.problem(format!(
                        "is one of {} Deployments running the {} service; keep one",
                        several.len(),
                        service.name()
                    )));
                }
            }
        }
    }
    for pod in &pods {
        let container = pod.container;
        let args = container.args.clone().unwrap_or_default();
        match pod.service {
            Some(service) if args.len() == 1 => {
                let wanted = format!("{service}-depl");
                if pod.object.name != wanted {
                    problems.push(pod.object.problem(format!(
                        "is named {}; name it {wanted}: `cargo workbook deploy` waits for `deployment/{wanted}`",
                        pod.object.name
                    )));
                }
            }
            _ => problems.push(pod.object.problem(format!(
                "its container's args are {args:?}; they must be exactly one of {names:?}: \
                 the image runs `blog <service>`"
            ))),
        }
        if container.command.is_some() {
            problems.push(pod.object.problem(
                "sets `command`, which replaces the image's entrypoint (the `blog` program); set only `args`",
            ));
        }
        if container.image.as_deref() != Some(IMAGE) {
            problems.push(pod.object.problem(format!(
                "runs the image {:?}, but the build produces {IMAGE:?}",
                container.image.as_deref().unwrap_or("")
            )));
        }
        if container.image_pull_policy.as_deref() != Some("Never") {
            problems.push(pod.object.problem(format!(
                "imagePullPolicy is {:?}: set it to Never, the image is built into minikube and is in no registry",
                container.image_pull_policy.as_deref().unwrap_or("(unset)")
            )));
        }
        if let Some(service) = pod.service
            && let Some(reason) = service.single_instance()
        {
            let spec = &pod.deployment.spec;
            let replicas = spec.replicas.unwrap_or(1);
            if replicas != 1 {
                problems.push(pod.object.problem(format!(
                    "has {replicas} replicas; the {service} service must run as exactly one pod: {reason}"
                )));
            }
            let strategy = spec
                .strategy
                .as_ref()
                .and_then(|s| s.type_.as_deref())
                .unwrap_or("RollingUpdate");
            if strategy != "Recreate" {
                problems.push(pod.object.problem(format!(
                    "updates with strategy {strategy}, which starts the new pod before it stops the old one; \
                     the {service} service needs `strategy: {{type: Recreate}}`: {reason}"
                )));
            }
        }
    }
    problems
}
// ANCHOR_END: deployments

// ANCHOR: pre_stop
/// A pod that a rolling update replaces first pauses (`preStop`), then stops.
///
/// When Kubernetes decides to stop a pod it does two things at once: it
/// sends the pod SIGTERM, and it removes the pod from its Services'
/// endpoints, which every node and the ingress learn of a moment later.
/// Without a pause, requests sent in that moment meet a pod that has
/// stopped listening. A rolling update promises no downtime, so its pods
/// pause first; the image has no shell, hence the `sleep` action
/// (Kubernetes 1.30 and later) rather than `exec: sleep`.
pub fn pre_stop(manifests: &Manifests) -> Vec<Problem> {
    let (pods, mut problems) = Pod::all(manifests);
    for pod in &pods {
        let spec = &pod.deployment.spec;
        let strategy = spec
            .strategy
            .as_ref()
            .and_then(|s| s.type_.as_deref())
            .unwrap_or("RollingUpdate");
        let handler = pod
            .container
            .lifecycle
            .as_ref()
            .and_then(|l| l.pre_stop.as_ref());
        if handler.is_some_and(|h| h.exec.is_some()) {
            problems.push(pod.object.problem(
                "its preStop runs a command (exec), but the image has no shell and no `sleep` program; \
                 use `preStop: {sleep: {seconds: 5}}`",
            ));
            continue;
        }
        let seconds = handler.and_then(|h| h.sleep.as_ref()).map(|s| s.seconds);
        let grace = pod.spec.termination_grace_period_seconds.unwrap_or(30);
        match seconds {
            None if strategy == "RollingUpdate" => problems.push(pod.object.problem(
                "rolls out with RollingUpdate, but its container has no `lifecycle.preStop.sleep`: the old \
                 pod would stop listening while the Services and the ingress still send it requests for a \
                 moment; add `lifecycle: {preStop: {sleep: {seconds: 5}}}`",
            )),
            None => {}
            Some(seconds) if seconds < 1 => problems.push(pod.object.problem(format!(
                "its preStop sleeps {seconds} s, which gives the endpoints no time to forget the pod; sleep a few seconds"
            ))),
            Some(seconds) if seconds + SHUTDOWN_SECONDS > grace => {
                problems.push(pod.object.problem(format!(
                    "its preStop sleeps {seconds} s of its {grace} s grace period (terminationGracePeriodSeconds), \
                     which leaves less than the {SHUTDOWN_SECONDS} s the service may need to finish its requests \
                     before it is killed; sleep less, or give it a longer grace period"
                )))
            }
            Some(_) => {}
        }
    }
    problems
}
// ANCHOR_END: pre_stop

// ANCHOR: probes
/// Liveness on `/healthz` and readiness on `/readyz`, on the port the program listens on.
pub fn probes(manifests: &Manifests) -> Vec<Problem> {
    let (pods, mut problems) = Pod::all(manifests);
    for pod in &pods {
        let wanted = [
            (
                "livenessProbe",
                &pod.container.liveness_probe,
                LIVENESS_PATH,
            ),
            (
                "readinessProbe",
                &pod.container.readiness_probe,
                READINESS_PATH,
            ),
        ];
        for (name, probe, path) in wanted {
            match http_get(probe) {
                None => problems.push(
                    pod.object
                        .problem(format!("has no {name} with httpGet; add one on {path}")),
                ),
                Some((found, port)) => {
                    if found != path {
                        let why = if name == "livenessProbe" {
                            "a liveness probe must only ask \"is the process stuck?\"; /readyz is not ready \
                             while query replays the log, and a failing liveness probe restarts the pod, over and over"
                        } else {
                            "a readiness probe asks \"can it serve?\", which only /readyz answers"
                        };
                        problems
                            .push(pod.object.problem(format!(
                                "its {name} asks for {found}; use {path}: {why}"
                            )));
                    }
                    let resolved = pod.resolve_port(&port);
                    if let Some(listen) = pod.listen_port()
                        && resolved != Some(listen)
                    {
                        problems.push(pod.object.problem(format!(
                            "its {name} asks port {}, but {} listens on {listen}",
                            show_port(&port),
                            pod.describe()
                        )));
                    }
                }
            }
        }
    }
    problems
}
// ANCHOR_END: probes

fn http_get(probe: &Option<Probe>) -> Option<(String, IntOrString)> {
    let action = probe.as_ref()?.http_get.as_ref()?;
    Some((
        action.path.clone().unwrap_or_else(|| "/".into()),
        action.port.clone(),
    ))
}

/// Every probe path of every pod, with where it is: for a test that asks the
/// real program whether it answers them.
pub fn probe_paths(manifests: &Manifests) -> Vec<(String, String)> {
    let (pods, _) = Pod::all(manifests);
    let mut paths = Vec::new();
    for pod in &pods {
        for (name, probe) in [
            ("livenessProbe", &pod.container.liveness_probe),
            ("readinessProbe", &pod.container.readiness_probe),
        ] {
            if let Some((path, _)) = http_get(probe) {
                paths.push((
                    format!("{}: {}: {name}", pod.object.file, pod.object.describe()),
                    path,
                ));
            }
        }
    }
    paths
}

// ANCHOR: security
/// Non-root, read-only root file system, no privilege escalation, no
/// capabilities; and requests and limits for CPU and memory.
pub fn security(manifests: &Manifests) -> Vec<Problem> {
    let (pods, mut problems) = Pod::all(manifests);
    for pod in &pods {
        let pod_level = pod.spec.security_context.as_ref();
        let container = pod.container.security_context.as_ref();
        let mut missing = Vec::new();
        let non_root = container
            .and_then(|c| c.run_as_non_root)
            .or(pod_level.and_then(|p| p.run_as_non_root));
        if non_root != Some(true) {
            missing.push("runAsNonRoot: true".to_string());
        }
        let user = container
            .and_then(|c| c.run_as_user)
            .or(pod_level.and_then(|p| p.run_as_user));
        if user != Some(IMAGE_USER) {
            missing.push(format!("runAsUser: {IMAGE_USER} (the image's user)"));
        }
        if container.and_then(|c| c.allow_privilege_escalation) != Some(false) {
            missing.push("allowPrivilegeEscalation: false".into());
        }
        if container.and_then(|c| c.read_only_root_filesystem) != Some(true) {
            missing.push("readOnlyRootFilesystem: true".into());
        }
        let capabilities = container.and_then(|c| c.capabilities.as_ref());
        if !capabilities
            .and_then(|c| c.drop.as_ref())
            .is_some_and(|d| d.iter().any(|c| c == "ALL"))
        {
            missing.push("capabilities: {drop: [\"ALL\"]}".into());
        }
        if capabilities
            .and_then(|c| c.add.as_ref())
            .is_some_and(|a| !a.is_empty())
        {
            missing.push("no capabilities.add (a web service needs none)".into());
        }
        if !missing.is_empty() {
            problems.push(
                pod.object
                    .problem(format!("its securityContext lacks {}", missing.join(", "))),
            );
        }

        let resources = pod.container.resources.as_ref();
        for (what, list) in [
            ("requests", resources.and_then(|r| r.requests.as_ref())),
            ("limits", resources.and_then(|r| r.limits.as_ref())),
        ] {
            for resource in ["cpu", "memory"] {
                let value = list.and_then(|l| l.get(resource)).map(|q| q.0.as_str());
                let parsed = value.and_then(|v| quantity(resource, v));
                if parsed.is_none() {
                    problems.push(pod.object.problem(format!(
                        "resources.{what}.{resource} is {}: give every container a request \
                         (what the scheduler reserves) and a limit (where it stops growing)",
                        value.map_or("missing".to_string(), |v| format!(
                            "{v:?}, which is not a quantity"
                        ))
                    )));
                }
            }
        }
        for resource in ["cpu", "memory"] {
            let get = |list: Option<
                &std::collections::BTreeMap<
                    String,
                    k8s_openapi::apimachinery::pkg::api::resource::Quantity,
                >,
            >| {
                list.and_then(|l| l.get(resource))
                    .and_then(|q| quantity(resource, &q.0))
            };
            if let (Some(request), Some(limit)) = (
                get(resources.and_then(|r| r.requests.as_ref())),
                get(resources.and_then(|r| r.limits.as_ref())),
            ) && request > limit
            {
                problems.push(pod.object.problem(format!(
                    "requests more {resource} than its limit allows; the cluster refuses that"
                )));
            }
        }
    }
    problems
}
// ANCHOR_END: security

// ANCHOR: data
/// A service that keeps data has a PersistentVolumeClaim mounted at its
/// `DATA_DIR`: the root file system is read-only, and the data must
/// survive the pod (a restart, a rollout, a move to another node).
pub fn data(manifests: &Manifests) -> Vec<Problem> {
    let (pods, mut problems) = Pod::all(manifests);
    for pod in &pods {
        let volumes = pod.spec.volumes.clone().unwrap_or_default();
        for mount in pod.container.volume_mounts.iter().flatten() {
            if !volumes.iter().any(|v| v.name == mount.name) {
                problems.push(pod.object.problem(format!(
                    "mounts the volume {} at {}, but the pod has no volume of that name",
                    mount.name, mount.mount_path
                )));
            }
        }
        for volume in &volumes {
            if let Some(claim) = &volume.persistent_volume_claim
                && !manifests.claims().any(|(o, _)| o.name == claim.claim_name)
            {
                problems.push(pod.object.problem(format!(
                    "uses the PersistentVolumeClaim {}, which these manifests do not create",
                    claim.claim_name
                )));
            }
        }
        let Some(service) = pod.service else { continue };
        if !service.keeps_data() {
            continue;
        }
        let data_dir = pod.env.get("DATA_DIR").cloned().unwrap_or_default();
        let mount = pod
            .container
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| m.mount_path.trim_end_matches('/') == data_dir.trim_end_matches('/'));
        let Some(mount) = mount else {
            problems.push(pod.object.problem(format!(
                "the {} service keeps its SQLite file in DATA_DIR ({data_dir}), but nothing is mounted there: \
                 on a read-only root file system it cannot write, and without a volume its data dies with the pod",
                service.name()
            )));
            continue;
        };
        if mount.read_only == Some(true) {
            problems.push(pod.object.problem(format!(
                "mounts {data_dir} read-only, but the {service} service writes there"
            )));
        }
        let claim = volumes
            .iter()
            .find(|v| v.name == mount.name)
            .and_then(|v| v.persistent_volume_claim.as_ref());
        if claim.is_none() {
            problems.push(pod.object.problem(format!(
                "mounts {data_dir} from the volume {}, which is not a PersistentVolumeClaim: the {} service's data \
                 would be lost when the pod is replaced (`kubectl rollout restart`, a crash on another node)",
                mount.name,
                service.name()
            )));
        }
    }
    problems
}
// ANCHOR_END: data

/// A CPU quantity in cores (`500m`, `1`, `0.25`) or a memory quantity in
/// bytes (`128Mi`, `1Gi`, `64M`, `1000`); `None` if it is not one.
pub fn quantity(resource: &str, text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match (resource, suffix) {
        (_, "") => 1.0,
        ("cpu", "m") => 0.001,
        ("memory", "Ki") => 1024.0,
        ("memory", "Mi") => 1024.0_f64.powi(2),
        ("memory", "Gi") => 1024.0_f64.powi(3),
        ("memory", "Ti") => 1024.0_f64.powi(4),
        ("memory", "k") => 1e3,
        ("memory", "M") => 1e6,
        ("memory", "G") => 1e9,
        ("memory", "T") => 1e12,
        _ => return None,
    };
    Some(number * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_read_in_cores_and_bytes() {
        assert_eq!(quantity("cpu", "500m"), Some(0.5));
        assert_eq!(quantity("cpu", "1"), Some(1.0));
        assert_eq!(quantity("memory", "128Mi"), Some(128.0 * 1024.0 * 1024.0));
        assert_eq!(quantity("memory", "1G"), Some(1e9));
        assert_eq!(quantity("memory", "lots"), None);
        assert_eq!(quantity("cpu", "2Gi"), None);
    }
}
