//! `cargo workbook deploy` and `cargo workbook undeploy`: the blog on minikube.
//!
//! `deploy` checks that minikube is ready (the same checks as `cargo workbook
//! doctor`, plus: kubectl talks to minikube, the Dockerfile is there), builds
//! the image inside minikube, applies `k8s/`, restarts the Deployments so they
//! run the image just built, waits for every rollout and prints the URL.
//! `undeploy` deletes what `deploy` applied. `--dry-run` prints the exact
//! commands without running anything.
//!
//! `deploy --mine` deploys your own blog: it runs the service exercises'
//! tests (as `up --mine` does), builds `blog:mine` with yours where they
//! pass (see [`crate::image`]), and tags it, inside minikube, as the image
//! the manifests name. The manifests stay the one description of the
//! system; only the code in the image changes.

use std::fmt;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use blog_catalogue::Service;
use workbook::doctor::{Doctor, Level};

use crate::image::{MINE, Selection};

/// The image the manifests run (`image: blog:0.1.0`, `imagePullPolicy: Never`).
pub const IMAGE: &str = crate::image::REFERENCE;
/// Every object of the blog carries this label.
const PART_OF: &str = "app.kubernetes.io/part-of=blog";
/// How long one Deployment may take to become ready.
const ROLLOUT_TIMEOUT: &str = "--timeout=180s";
pub const URL: &str = "http://posts.com/";

/// One command, exactly as it runs (from the repository's root).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub program: &'static str,
    pub args: Vec<String>,
}

impl Step {
    fn new(program: &'static str, args: &[&str]) -> Step {
        Step {
            program,
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.program)?;
        for arg in &self.args {
            write!(f, " {arg}")?;
        }
        Ok(())
    }
}

/// What `deploy` runs, in order; with a selection, your blog (`--mine`).
pub fn deploy_steps(mine: Option<&Selection>) -> Vec<Step> {
    // Built by minikube's own container runtime, so the cluster has the
    // image without any registry (the manifests say imagePullPolicy: Never).
    let mut steps = match mine {
        None => vec![Step::new("minikube", &["image", "build", "-t", IMAGE, "."])],
        Some(selection) => {
            let mut build = Step::new("minikube", &["image", "build", "-t", MINE]);
            // `--build-opt=build-arg=...` is `docker build --build-arg ...`.
            for pair in selection.build_options().chunks(2) {
                let option = pair[0].trim_start_matches("--");
                build.args.push(format!("--build-opt={option}={}", pair[1]));
            }
            build.args.push(".".into());
            vec![
                build,
                // Under the name the manifests run: the pods get your code.
                Step::new("minikube", &["image", "tag", MINE, IMAGE]),
            ]
        }
    };
    steps.extend([
        Step::new("kubectl", &["apply", "-k", "k8s/"]),
        // The tag did not change, so a second deploy changes no manifest and
        // Kubernetes would keep the old pods: a restart makes new ones, from the new image.
        Step::new(
            "kubectl",
            &["rollout", "restart", "deployment", "-l", PART_OF],
        ),
    ]);
    for service in Service::ALL {
        let deployment = format!("deployment/{service}-depl");
        steps.push(Step::new(
            "kubectl",
            &["rollout", "status", &deployment, ROLLOUT_TIMEOUT],
        ));
    }
    steps
}

/// What `undeploy` runs: everything `deploy` applied goes, the data's volumes too.
pub fn undeploy_steps() -> Vec<Step> {
    vec![Step::new("kubectl", &["delete", "-k", "k8s/"])]
}

/// What stops a deployment on this machine; empty when it can go ahead.
pub fn preflight(doctor: &Doctor, root: &Path) -> Vec<String> {
    let mut problems: Vec<String> = doctor
        .for_needs(&["kubernetes".to_string()])
        .into_iter()
        .filter(|check| check.level == Level::Fail)
        .map(|check| format!("{}: {}", check.name, check.detail))
        .collect();
    // Only ask kubectl where it points when it is there at all.
    if !problems.iter().any(|p| p.starts_with("kubectl:")) {
        match current_context(doctor) {
            Ok(context) if context == "minikube" => {}
            Ok(context) => problems.push(format!(
                "kubectl: it talks to the cluster {context:?}, not to minikube; \
                 `kubectl config use-context minikube` (deploying elsewhere is not what you want here)"
            )),
            Err(why) => problems.push(format!("kubectl: cannot tell which cluster it talks to: {why}")),
        }
    }
    if !root.join("Dockerfile").is_file() {
        problems.push(format!(
            "Dockerfile: there is none in {}; the image is built from it (chapter 8)",
            root.display()
        ));
    }
    problems
}

fn current_context(doctor: &Doctor) -> Result<String, String> {
    let kubectl = std::env::split_paths(&doctor.path)
        .map(|dir| dir.join("kubectl"))
        .find(|p| p.is_file())
        .ok_or("kubectl is not on PATH")?;
    let output = Command::new(kubectl)
        .args(["config", "current-context"])
        .env("PATH", &doctor.path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        return Err(if stderr.is_empty() {
            "no current context (`minikube start` sets one)".into()
        } else {
            stderr
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

pub fn deploy(root: &Path, dry_run: bool, mine: bool) -> Result<()> {
    let selection = if mine {
        Some(Selection::mine(root)?)
    } else {
        None
    };
    if let Some(selection) = &selection {
        selection.print(&format!("{MINE} (deployed as {IMAGE})"));
        println!();
    }
    let steps = deploy_steps(selection.as_ref());
    if dry_run {
        let command = if mine {
            "cargo workbook deploy --mine"
        } else {
            "cargo workbook deploy"
        };
        print_plan(command, root, &steps);
        return Ok(());
    }
    let problems = preflight(&Doctor::default(), root);
    if !problems.is_empty() {
        eprintln!("minikube is not ready for the blog:");
        for problem in &problems {
            eprintln!("  - {problem}");
        }
        bail!(
            "fix the above and run `cargo workbook deploy` again (`cargo workbook doctor` checks it all)"
        );
    }
    run_steps(root, &steps).map_err(|error| {
        error.context(
            "the deployment stopped (`kubectl get pods` and `kubectl describe pod <name>` say why)",
        )
    })?;
    println!("\nThe blog runs on minikube: open {URL}");
    println!("  kubectl get pods,services,ingress -l {PART_OF}   shows what runs");
    println!("  (With minikube's Docker driver on macOS or Windows, run `minikube tunnel`");
    println!("   and point posts.com at 127.0.0.1 in your hosts file instead.)");
    Ok(())
}

pub fn undeploy(root: &Path, dry_run: bool) -> Result<()> {
    if dry_run {
        print_plan("cargo workbook undeploy", root, &undeploy_steps());
        return Ok(());
    }
    run_steps(root, &undeploy_steps()).map_err(|error| {
        error.context(format!(
            "the blog is not all gone (`kubectl get all -l {PART_OF}` shows what is left)"
        ))
    })?;
    println!(
        "\nThe blog is gone from minikube, with its PersistentVolumeClaims (and so its data)."
    );
    Ok(())
}

fn print_plan(command: &str, root: &Path, steps: &[Step]) {
    println!("`{command}` would run, in {}:", root.display());
    for step in steps {
        println!("  {step}");
    }
}

/// Runs each step from the repository's root, showing it first; stops at the first that fails.
pub fn run_steps(root: &Path, steps: &[Step]) -> Result<()> {
    for step in steps {
        println!("$ {step}");
        let status = Command::new(step.program)
            .args(&step.args)
            .current_dir(root)
            .status()
            .with_context(|| format!("running `{step}`"))?;
        if !status.success() {
            bail!("`{step}` failed ({status})");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;
    use std::sync::Mutex;

    use super::*;

    /// Writing a script while another test thread starts a process can make
    /// the script "busy" (ETXTBSY); these tests take turns.
    static SCRIPTS: Mutex<()> = Mutex::new(());

    struct Machine {
        dir: tempfile::TempDir,
    }

    impl Machine {
        fn new() -> Machine {
            let machine = Machine {
                dir: tempfile::tempdir().unwrap(),
            };
            std::fs::create_dir(machine.bin()).unwrap();
            std::fs::write(machine.dir.path().join("hosts"), "127.0.0.1 localhost\n").unwrap();
            machine
        }

        fn bin(&self) -> PathBuf {
            self.dir.path().join("bin")
        }

        /// A fake program: a shell script that answers by its arguments.
        fn program(&self, name: &str, script: &str) {
            let path = self.bin().join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }

        fn hosts(&self, text: &str) {
            std::fs::write(self.dir.path().join("hosts"), text).unwrap();
        }

        fn dockerfile(&self) {
            std::fs::write(self.dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        }

        fn preflight(&self) -> Vec<String> {
            let doctor = Doctor {
                path: self.bin().into_os_string(),
                hosts_file: self.dir.path().join("hosts"),
            };
            preflight(&doctor, self.dir.path())
        }

        /// minikube running with the ingress addon, kubectl on minikube, posts.com in hosts.
        fn ready() -> Machine {
            let machine = Machine::new();
            machine.minikube("Running", "enabled");
            machine.kubectl("minikube");
            machine.hosts("192.168.49.2 posts.com\n");
            machine.dockerfile();
            machine
        }

        fn minikube(&self, host: &str, ingress: &str) {
            self.program(
                "minikube",
                &format!(
                    "case \"$1\" in\n  status) echo {host} ;;\n  addons) echo '{{\"ingress\": {{\"Status\": \"{ingress}\"}}}}' ;;\n  ip) echo 192.168.49.2 ;;\nesac"
                ),
            );
        }

        fn kubectl(&self, context: &str) {
            self.program(
                "kubectl",
                &format!(
                    "case \"$1\" in\n  version) echo 'Client Version: v1.37.0' ;;\n  config) echo {context} ;;\nesac"
                ),
            );
        }
    }

    fn assert_mentions(problems: &[String], words: &[&str]) {
        assert!(
            problems.iter().any(|p| words.iter().all(|w| p.contains(w))),
            "expected a problem mentioning {words:?}, got {problems:#?}"
        );
    }

    #[test]
    fn a_ready_machine_passes() {
        let _turn = SCRIPTS.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(Machine::ready().preflight(), Vec::<String>::new());
    }

    #[test]
    fn missing_tools_are_named_with_where_to_get_them() {
        let _turn = SCRIPTS.lock().unwrap_or_else(|e| e.into_inner());
        let problems = Machine::new().preflight();
        assert_mentions(
            &problems,
            &[
                "kubectl",
                "not installed",
                "https://kubernetes.io/docs/tasks/tools/",
            ],
        );
        assert_mentions(
            &problems,
            &[
                "minikube",
                "not installed",
                "https://minikube.sigs.k8s.io/docs/start/",
            ],
        );
        assert_mentions(&problems, &["posts.com", "sudo tee -a /etc/hosts"]);
        assert_mentions(&problems, &["Dockerfile"]);
        assert!(
            !problems.iter().any(|p| p.contains("talks to")),
            "without kubectl there is no context to ask about: {problems:#?}"
        );
    }

    #[test]
    fn a_stopped_minikube_and_a_disabled_ingress_are_reported() {
        let _turn = SCRIPTS.lock().unwrap_or_else(|e| e.into_inner());
        let machine = Machine::ready();
        machine.minikube("Stopped", "disabled");
        let problems = machine.preflight();
        assert_mentions(&problems, &["minikube", "not running", "minikube start"]);
        assert_mentions(
            &problems,
            &["ingress addon", "minikube addons enable ingress"],
        );
        assert_eq!(problems.len(), 2, "{problems:#?}");
    }

    #[test]
    fn kubectl_pointing_at_another_cluster_is_refused() {
        let _turn = SCRIPTS.lock().unwrap_or_else(|e| e.into_inner());
        let machine = Machine::ready();
        machine.kubectl("production");
        let problems = machine.preflight();
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert_mentions(
            &problems,
            &["\"production\"", "kubectl config use-context minikube"],
        );
    }

    #[test]
    fn the_exact_deploy_commands() {
        let shown: Vec<String> = deploy_steps(None).iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "minikube image build -t blog:0.1.0 .",
                "kubectl apply -k k8s/",
                "kubectl rollout restart deployment -l app.kubernetes.io/part-of=blog",
                "kubectl rollout status deployment/event-bus-depl --timeout=180s",
                "kubectl rollout status deployment/posts-depl --timeout=180s",
                "kubectl rollout status deployment/comments-depl --timeout=180s",
                "kubectl rollout status deployment/query-depl --timeout=180s",
                "kubectl rollout status deployment/moderation-depl --timeout=180s",
                "kubectl rollout status deployment/client-depl --timeout=180s",
            ]
        );
        let undeploy: Vec<String> = undeploy_steps().iter().map(ToString::to_string).collect();
        assert_eq!(undeploy, ["kubectl delete -k k8s/"]);
    }

    #[test]
    fn deploying_yours_builds_your_image_and_runs_it_under_the_manifests_name() {
        let mine = Selection {
            choices: ["posts", "moderation"]
                .into_iter()
                .map(|service| workbook::system::Choice {
                    service: service.parse().unwrap(),
                    package: format!("ex-{service}"),
                    slug: service.into(),
                    used: service == "moderation",
                })
                .collect(),
        };
        let shown: Vec<String> = deploy_steps(Some(&mine))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown[..3],
            [
                "minikube image build -t blog:mine --build-opt=build-arg=BLOG_FEATURES=mine-moderation \
                 --build-opt=label=org.workbook.mine=moderation .",
                "minikube image tag blog:mine blog:0.1.0",
                "kubectl apply -k k8s/",
            ]
        );
        let reference = deploy_steps(None);
        assert_eq!(
            shown.len(),
            reference.len() + 1,
            "then the same as the reference deploy"
        );
        assert!(
            shown[2..]
                .iter()
                .zip(&reference[1..])
                .all(|(a, b)| *a == b.to_string())
        );
    }

    /// The commands name what the manifests really contain.
    #[test]
    fn the_commands_match_the_manifests() {
        let k8s = workbook::repo_root().join("k8s");
        let mut text = String::new();
        for entry in std::fs::read_dir(&k8s).expect("the repository has k8s/") {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                text.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
        assert!(
            k8s.join("Kustomization").is_file(),
            "`kubectl apply -k k8s/` needs k8s/Kustomization"
        );
        for line in text
            .lines()
            .filter(|l| l.trim_start().starts_with("image:"))
        {
            assert_eq!(
                line.trim(),
                format!("image: {IMAGE}"),
                "deploy builds {IMAGE}"
            );
        }
        for step in deploy_steps(None)
            .iter()
            .filter(|s| s.args.starts_with(&["rollout".into(), "status".into()]))
        {
            let name = step.args[2].trim_start_matches("deployment/");
            // `rollout restart -l app.kubernetes.io/part-of=blog` finds it by this label.
            let labelled = format!(
                "kind: Deployment\nmetadata:\n  name: {name}\n  labels:\n    app.kubernetes.io/part-of: blog\n"
            );
            assert!(
                text.contains(&labelled),
                "k8s/ has no Deployment {name} labelled part-of=blog, which `{step}` waits for"
            );
        }
        assert_eq!(
            text.matches("kind: Deployment\n").count(),
            Service::ALL.len(),
            "one Deployment per service"
        );
    }
}
