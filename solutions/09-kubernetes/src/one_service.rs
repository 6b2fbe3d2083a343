//! The manifests of one service, judged on their own: chapter 9's exercise
//! has the learner write one service's Deployment and Service from nothing,
//! and this says what that pair still lacks.
//!
//! The rules are the system-wide checks of [`wiring`](crate::wiring) and
//! [`hardening`](crate::hardening), kept to the objects of one service, with
//! a first problem, when there is nothing to check yet, that says what to
//! write. Two groups, one per step of the exercise: reachable (labels,
//! selectors, ports) and run safely (probes, resources, security context).

use crate::hardening;
use crate::load::{Manifests, Problem};
use crate::pods::Pod;
use crate::system::{BlogService, IMAGE};
use crate::wiring::{self, selected};

// ANCHOR: reachable
/// A Deployment runs `service`, its selector matches its own pods, a
/// ClusterIP Service selects them, and the ports line up from the Service's
/// `port` (the service's port everywhere) to the `targetPort`, the
/// `containerPort` and the port the program listens on.
pub fn reachable(manifests: &Manifests, service: BlogService) -> Vec<Problem> {
    let (pods, _) = Pod::all(manifests);
    let Some(pod) = pods.iter().find(|p| p.service == Some(service)) else {
        return vec![missing_deployment(manifests, service)];
    };
    let selecting: Vec<String> = manifests
        .services()
        .filter(|(_, k8s)| {
            selected(k8s, &pods)
                .iter()
                .any(|p| p.object.name == pod.object.name)
        })
        .map(|(object, _)| object.describe())
        .collect();
    let mut problems = Vec::new();
    if selecting.is_empty() {
        problems.push(pod.object.problem(format!(
            "no Service selects its pods (labels {:?}): write a ClusterIP Service {service}-srv \
             whose selector is among those labels, with the port {}",
            pod.labels(),
            service.default_port()
        )));
    }
    let mine = |problem: &Problem| {
        (problem.file == pod.object.file && problem.object == pod.object.describe())
            || selecting.contains(&problem.object)
    };
    for family in [
        hardening::deployments(manifests),
        wiring::selectors(manifests),
        wiring::ports(manifests),
        wiring::service_coverage(manifests),
    ] {
        problems.extend(family.into_iter().filter(mine));
    }
    problems
}
// ANCHOR_END: reachable

// ANCHOR: run_safely
/// The pod of `service` is probed (liveness on /healthz, readiness on
/// /readyz, on its port), has requests and limits, and runs locked down
/// (non-root, read-only root file system, no privileges).
pub fn run_safely(manifests: &Manifests, service: BlogService) -> Vec<Problem> {
    let (pods, _) = Pod::all(manifests);
    let Some(pod) = pods.iter().find(|p| p.service == Some(service)) else {
        return vec![missing_deployment(manifests, service)];
    };
    let mine = |problem: &Problem| {
        problem.file == pod.object.file && problem.object == pod.object.describe()
    };
    let mut problems = Vec::new();
    for family in [hardening::probes(manifests), hardening::security(manifests)] {
        problems.extend(family.into_iter().filter(mine));
    }
    problems
}
// ANCHOR_END: run_safely

fn missing_deployment(manifests: &Manifests, service: BlogService) -> Problem {
    manifests.problem(
        "Deployment",
        format!(
            "no Deployment runs the {service} service yet: write one in {}/{service}.yaml, \
             {service}-depl, whose one container runs the image {IMAGE} with args [\"{service}\"]",
            manifests.folder
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests_dir;

    #[test]
    fn the_real_manifests_of_every_service_are_complete() {
        let manifests = Manifests::load(&manifests_dir()).expect("k8s/ loads");
        for service in BlogService::ALL {
            assert_eq!(reachable(&manifests, service), Vec::new(), "{service}");
            assert_eq!(run_safely(&manifests, service), Vec::new(), "{service}");
        }
    }

    /// The problems of a copy of `k8s/` whose moderation.yaml is the real
    /// one edited by `edit`: (reachable, run safely).
    fn with_moderation(edit: impl Fn(String) -> String) -> (Vec<String>, Vec<String>) {
        let copy = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(manifests_dir()).unwrap() {
            let path = entry.unwrap().path();
            // Only the files: `k8s/nats/` is chapter 10's overlay, not part of this system.
            if path.is_dir() {
                continue;
            }
            let mut text = std::fs::read_to_string(&path).unwrap();
            if path.file_name().is_some_and(|n| n == "moderation.yaml") {
                let edited = edit(text.clone());
                assert_ne!(edited, text, "the edit must change moderation.yaml");
                text = edited;
            }
            std::fs::write(copy.path().join(path.file_name().unwrap()), text).unwrap();
        }
        let manifests = Manifests::load(copy.path()).expect("the copy loads");
        let shown = |problems: Vec<Problem>| problems.iter().map(|p| p.to_string()).collect();
        (
            shown(reachable(&manifests, BlogService::Moderation)),
            shown(run_safely(&manifests, BlogService::Moderation)),
        )
    }

    fn names(problems: &[String], wanted: &str) -> bool {
        problems.iter().any(|p| p.contains(wanted))
    }

    #[test]
    fn an_empty_file_is_told_to_write_the_deployment() {
        let (reach, safe) = with_moderation(|_| "# nothing yet\n".to_string());
        assert!(
            names(&reach, "no Deployment runs the moderation service yet"),
            "{reach:?}"
        );
        assert!(
            names(&safe, "no Deployment runs the moderation service yet"),
            "{safe:?}"
        );
    }

    #[test]
    fn a_deployment_without_its_service_is_told_to_write_one() {
        let (reach, _) = with_moderation(|text| text.split("\n---\n").next().unwrap().to_string());
        assert!(names(&reach, "no Service selects its pods"), "{reach:?}");
    }

    #[test]
    fn pods_their_own_selector_misses_are_named() {
        let (reach, _) = with_moderation(|text| {
            text.replace(
                "      labels:\n        app: moderation",
                "      labels:\n        app: moderator",
            )
        });
        assert!(names(&reach, "Deployment moderation-depl"), "{reach:?}");
    }

    #[test]
    fn a_target_port_nobody_listens_on_is_named() {
        let (reach, _) =
            with_moderation(|text| text.replace("targetPort: 4003", "targetPort: 4000"));
        assert!(names(&reach, "targetPort 4000"), "{reach:?}");
    }

    #[test]
    fn a_wrong_readiness_probe_is_named() {
        let (_, safe) = with_moderation(|text| text.replace("path: /readyz", "path: /healthz"));
        assert!(names(&safe, "readinessProbe"), "{safe:?}");
    }

    #[test]
    fn missing_limits_are_named() {
        let (_, safe) = with_moderation(|text| {
            text.replace(
                "            limits:\n              cpu: 250m\n              memory: 64Mi\n",
                "",
            )
        });
        assert!(names(&safe, "resources.limits.cpu is missing"), "{safe:?}");
    }

    #[test]
    fn a_writable_root_file_system_is_named() {
        let (_, safe) = with_moderation(|text| {
            text.replace(
                "readOnlyRootFilesystem: true",
                "readOnlyRootFilesystem: false",
            )
        });
        assert!(names(&safe, "readOnlyRootFilesystem: true"), "{safe:?}");
    }
}
