//! `cargo workbook doctor`: is this machine ready for the workbook?
//!
//! Each check answers in one line what is wrong and what to do. The runner
//! runs the checks an exercise needs *before* its tests, so a missing Docker
//! engine reads as a problem of the machine, not of the learner's code.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use blog_catalogue::Service;
use blog_catalogue::broker::{NATS_INSTALL, NATS_SERVER, NATS_SERVER_DIRS};

/// The oldest Rust the workspace builds with: the `rust-version` of the root
/// Cargo.toml, which this crate inherits (`cargo xtask verify` checks that
/// the README states the same).
pub const MIN_RUST: (u32, u32) = major_minor(env!("CARGO_PKG_RUST_VERSION"));

/// `"1.89"` or `"1.89.0"` -> (1, 89), at compile time.
const fn major_minor(version: &str) -> (u32, u32) {
    let bytes = version.as_bytes();
    let mut parts = [0u32; 2];
    let (mut part, mut i) = (0, 0);
    while i < bytes.len() && part < 2 {
        match bytes[i] {
            b'.' => part += 1,
            digit @ b'0'..=b'9' => parts[part] = parts[part] * 10 + (digit - b'0') as u32,
            _ => panic!("rust-version is not a version"),
        }
        i += 1;
    }
    (parts[0], parts[1])
}

/// The ports the blog listens on (`cargo workbook up`): each service's
/// default port, from the service catalogue.
pub fn blog_ports() -> Vec<u16> {
    Service::ALL.iter().map(|s| s.default_port()).collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Ok,
    /// Not needed yet, or not fatal.
    Warn,
    /// Blocks the exercises that need it.
    Fail,
}

/// One line of the report.
#[derive(Clone, Debug)]
pub struct Check {
    pub name: &'static str,
    pub level: Level,
    pub detail: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        write!(f, "{mark} {:<15} {}", self.name, self.detail)
    }
}

/// Runs the checks with a given `PATH` and hosts file (the tests give fakes).
pub struct Doctor {
    pub path: OsString,
    pub hosts_file: PathBuf,
}

impl Default for Doctor {
    fn default() -> Self {
        // `PATH`, then where the packages put `nats-server` (Debian: /usr/sbin).
        let path = std::env::var_os("PATH").unwrap_or_default();
        let dirs = std::env::split_paths(&path)
            .chain(NATS_SERVER_DIRS.iter().map(PathBuf::from))
            .collect::<Vec<_>>();
        Doctor {
            path: std::env::join_paths(dirs).unwrap_or(path),
            hosts_file: PathBuf::from("/etc/hosts"),
        }
    }
}

/// What a command printed, or why it could not run.
enum Ran {
    Missing,
    Failed(String),
    Printed(String),
}

impl Doctor {
    fn find(&self, program: &str) -> Option<PathBuf> {
        std::env::split_paths(&self.path)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    }

    fn run(&self, program: &str, args: &[&str], timeout: Duration) -> Ran {
        let Some(binary) = self.find(program) else {
            return Ran::Missing;
        };
        let child = Command::new(binary)
            .args(args)
            .env("PATH", &self.path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let Ok(mut child) = child else {
            return Ran::Missing;
        };
        let started = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if started.elapsed() > timeout => {
                    let _ = child.kill();
                    return Ran::Failed(format!("no answer within {} s", timeout.as_secs()));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(error) => return Ran::Failed(error.to_string()),
            }
        }
        let Ok(output) = child.wait_with_output() else {
            return Ran::Failed("could not read its output".into());
        };
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim().to_string();
        if output.status.success() {
            Ran::Printed(text(&output.stdout))
        } else {
            let stderr = text(&output.stderr);
            let first = stderr
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("it failed")
                .to_string();
            Ran::Failed(first)
        }
    }

    pub fn rust(&self) -> Check {
        let name = "rust";
        match self.run("rustc", &["--version"], Duration::from_secs(20)) {
            Ran::Printed(version) => match parse_version(&version) {
                Some(found) if found >= MIN_RUST => Check {
                    name,
                    level: Level::Ok,
                    detail: version,
                },
                Some(_) => Check {
                    name,
                    level: Level::Fail,
                    detail: format!(
                        "{version} is too old; the workbook needs {}.{} or newer: run `rustup update`",
                        MIN_RUST.0, MIN_RUST.1
                    ),
                },
                None => Check {
                    name,
                    level: Level::Warn,
                    detail: format!("could not read the version from {version:?}"),
                },
            },
            Ran::Missing => Check {
                name,
                level: Level::Fail,
                detail: "rustc is not on PATH: install Rust from https://rustup.rs".into(),
            },
            Ran::Failed(why) => Check {
                name,
                level: Level::Fail,
                detail: format!("rustc --version failed: {why}"),
            },
        }
    }

    pub fn docker_engine(&self) -> Check {
        let name = "docker engine";
        match self.run("docker", &["info", "--format", "{{.ServerVersion}}"], Duration::from_secs(20)) {
            Ran::Printed(version) if !version.is_empty() => {
                Check { name, level: Level::Ok, detail: format!("reachable (Docker Engine {version})") }
            }
            Ran::Printed(_) | Ran::Failed(_) => Check {
                name,
                level: Level::Fail,
                detail: "the docker command works but no engine answers: start Docker Desktop, or `sudo systemctl start docker`".into(),
            },
            Ran::Missing => Check {
                name,
                level: Level::Fail,
                detail: "docker is not installed (needed from chapter 7): https://docs.docker.com/get-started/get-docker/".into(),
            },
        }
    }

    pub fn docker_run(&self) -> Check {
        let name = "docker run";
        match self.run(
            "docker",
            &["run", "--rm", "busybox", "true"],
            Duration::from_secs(120),
        ) {
            Ran::Printed(_) => Check {
                name,
                level: Level::Ok,
                detail: "can start a container (busybox)".into(),
            },
            Ran::Missing => Check {
                name,
                level: Level::Fail,
                detail: "docker is not installed".into(),
            },
            Ran::Failed(why) => Check {
                name,
                level: Level::Fail,
                detail: format!(
                    "cannot start a busybox container: {why} (is your user in the `docker` group?)"
                ),
            },
        }
    }

    pub fn kubectl(&self) -> Check {
        let name = "kubectl";
        match self.run("kubectl", &["version", "--client"], Duration::from_secs(20)) {
            Ran::Printed(version) => Check {
                name,
                level: Level::Ok,
                detail: first_line(&version),
            },
            Ran::Missing => Check {
                name,
                level: Level::Fail,
                detail: "not installed (chapter 9): https://kubernetes.io/docs/tasks/tools/".into(),
            },
            Ran::Failed(why) => Check {
                name,
                level: Level::Fail,
                detail: format!("kubectl version failed: {why}"),
            },
        }
    }

    pub fn minikube(&self) -> Check {
        let name = "minikube";
        match self.run(
            "minikube",
            &["status", "--format", "{{.Host}}"],
            Duration::from_secs(30),
        ) {
            Ran::Printed(host) if host.contains("Running") => Check {
                name,
                level: Level::Ok,
                detail: "running".into(),
            },
            Ran::Printed(_) | Ran::Failed(_) => Check {
                name,
                level: Level::Fail,
                detail: "installed but not running: `minikube start`".into(),
            },
            Ran::Missing => Check {
                name,
                level: Level::Fail,
                detail: "not installed (chapter 9): https://minikube.sigs.k8s.io/docs/start/"
                    .into(),
            },
        }
    }

    pub fn ingress_addon(&self) -> Check {
        let name = "ingress addon";
        match self.run(
            "minikube",
            &["addons", "list", "--output", "json"],
            Duration::from_secs(30),
        ) {
            Ran::Printed(json) => {
                let enabled = serde_json::from_str::<serde_json::Value>(&json)
                    .ok()
                    .and_then(|v| v["ingress"]["Status"].as_str().map(|s| s == "enabled"))
                    .unwrap_or(false);
                if enabled {
                    Check {
                        name,
                        level: Level::Ok,
                        detail: "enabled".into(),
                    }
                } else {
                    Check {
                        name,
                        level: Level::Fail,
                        detail: "not enabled: `minikube addons enable ingress`".into(),
                    }
                }
            }
            Ran::Missing => Check {
                name,
                level: Level::Fail,
                detail: "needs minikube".into(),
            },
            Ran::Failed(why) => Check {
                name,
                level: Level::Fail,
                detail: format!("could not list the addons: {why}"),
            },
        }
    }

    /// Kubernetes stores NetworkPolicies, but only some network plugins
    /// enforce them (minikube's default does not): without one, the blog
    /// runs, and any pod may still reach any service.
    pub fn network_policies(&self) -> Check {
        let name = "network policy";
        let asked = self.run(
            "kubectl",
            &[
                "get",
                "daemonsets",
                "--namespace",
                "kube-system",
                "--output",
                "name",
            ],
            Duration::from_secs(20),
        );
        match asked {
            Ran::Printed(list)
                if list
                    .lines()
                    .any(|l| l.contains("calico") || l.contains("cilium")) =>
            {
                Check {
                    name,
                    level: Level::Ok,
                    detail: "the network plugin enforces NetworkPolicies".into(),
                }
            }
            Ran::Printed(_) => Check {
                name,
                level: Level::Warn,
                detail:
                    "the network plugin ignores NetworkPolicies, so any pod may reach any service: \
                         `minikube delete && minikube start --cni=calico` (chapter 9)"
                        .into(),
            },
            Ran::Missing => Check {
                name,
                level: Level::Warn,
                detail: "needs kubectl".into(),
            },
            Ran::Failed(why) => Check {
                name,
                level: Level::Warn,
                detail: format!("could not ask the cluster which network plugin it runs: {why}"),
            },
        }
    }

    pub fn hosts_entry(&self) -> Check {
        let name = "posts.com";
        let hosts = std::fs::read_to_string(&self.hosts_file).unwrap_or_default();
        let found = hosts
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .any(|l| l.split_whitespace().skip(1).any(|h| h == "posts.com"));
        if found {
            Check {
                name,
                level: Level::Ok,
                detail: format!("{} has an entry", self.hosts_file.display()),
            }
        } else {
            Check {
                name,
                level: Level::Fail,
                detail: format!(
                    "no entry in {}: `echo \"$(minikube ip) posts.com\" | sudo tee -a /etc/hosts`",
                    self.hosts_file.display()
                ),
            }
        }
    }

    pub fn ports(&self) -> Check {
        let ports = blog_ports();
        let busy: Vec<u16> = ports.iter().copied().filter(|&p| !port_free(p)).collect();
        if busy.is_empty() {
            let listed: Vec<String> = ports.iter().map(u16::to_string).collect();
            Check {
                name: "ports",
                level: Level::Ok,
                detail: format!("{} are free", listed.join(", ")),
            }
        } else {
            Check {
                name: "ports",
                level: Level::Warn,
                detail: format!(
                    "in use: {busy:?}; `cargo workbook up` needs them (is the blog already running?)"
                ),
            }
        }
    }

    /// The NATS server of chapter 10 (`needs = ["nats"]`, `up --bus nats`).
    pub fn nats_server(&self) -> Check {
        let name = "nats-server";
        match self.run(NATS_SERVER, &["--version"], Duration::from_secs(10)) {
            Ran::Printed(version) => Check {
                name,
                level: Level::Ok,
                detail: first_line(&version),
            },
            Ran::Missing => Check {
                name,
                level: Level::Fail,
                detail: format!("not found; {NATS_INSTALL}"),
            },
            Ran::Failed(why) => Check {
                name,
                level: Level::Fail,
                detail: format!("`nats-server --version` failed: {why}; {NATS_INSTALL}"),
            },
        }
    }

    /// The checks for what an exercise declares it needs.
    pub fn for_needs(&self, needs: &[String]) -> Vec<Check> {
        let mut checks = Vec::new();
        if needs.iter().any(|n| n == "docker") {
            checks.push(self.docker_engine());
            if checks.last().is_some_and(|c| c.level == Level::Ok) {
                checks.push(self.docker_run());
            }
        }
        if needs.iter().any(|n| n == "nats") {
            checks.push(self.nats_server());
        }
        if needs.iter().any(|n| n == "kubernetes") {
            checks.extend([
                self.kubectl(),
                self.minikube(),
                self.ingress_addon(),
                self.hosts_entry(),
            ]);
        }
        checks
    }

    /// Everything, for `cargo workbook doctor`.
    pub fn all(&self) -> Vec<Check> {
        let mut checks = vec![self.rust(), self.ports()];
        checks.extend(self.for_needs(&[
            "docker".to_string(),
            "nats".to_string(),
            "kubernetes".to_string(),
        ]));
        // A warning only: the blog works without it, less protected.
        checks.push(self.network_policies());
        checks
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// `rustc 1.95.0 (59807616e 2026-04-14)` -> (1, 95)
pub fn parse_version(text: &str) -> Option<(u32, u32)> {
    let version = text.split_whitespace().nth(1)?;
    let mut parts = version.split(['.', '-']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Writes a fake program into `dir` (for tests): a shell script that prints
/// `stdout` and exits with `code`.
pub fn fake_program(dir: &Path, name: &str, stdout: &str, code: i32) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\necho '{stdout}'\nexit {code}\n"))
        .expect("write fake");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod fake");
    // Another test thread forking at this moment holds our write handle
    // until its child execs, and running the fake then fails with "text
    // file busy" (ETXTBSY). Return only once the fake can run.
    for _ in 0..100 {
        match std::process::Command::new(&path).output() {
            Err(error) if error.raw_os_error() == Some(26) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doctor_with(dir: &Path) -> Doctor {
        // /bin is needed by the fakes' `#!/bin/sh`, not searched for tools.
        Doctor {
            path: dir.as_os_str().to_owned(),
            hosts_file: dir.join("hosts"),
        }
    }

    #[test]
    fn without_nats_server_the_report_says_how_to_install_it() {
        let dir = tempfile::tempdir().unwrap();
        let checks = doctor_with(dir.path()).for_needs(&["nats".into()]);
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].level, Level::Fail);
        let line = checks[0].to_string();
        for way in [
            "apt-get install nats-server",
            "brew install nats-server",
            "github.com/nats-io/nats-server/releases",
        ] {
            assert!(line.contains(way), "{line}");
        }
        fake_program(dir.path(), "nats-server", "nats-server: v2.9.10", 0);
        let checks = doctor_with(dir.path()).for_needs(&["nats".into()]);
        assert_eq!(checks[0].level, Level::Ok, "{}", checks[0]);
        assert!(checks[0].detail.contains("v2.9.10"), "{}", checks[0]);
    }

    #[test]
    fn without_docker_the_report_says_to_install_it() {
        let dir = tempfile::tempdir().unwrap();
        let checks = doctor_with(dir.path()).for_needs(&["docker".into()]);
        assert_eq!(
            checks.len(),
            1,
            "no point trying to run a container without an engine"
        );
        assert_eq!(checks[0].level, Level::Fail);
        assert!(
            checks[0].to_string().contains("not installed"),
            "{}",
            checks[0]
        );
    }

    #[test]
    fn a_docker_command_without_an_engine_is_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        fake_program(dir.path(), "docker", "", 1);
        let check = doctor_with(dir.path()).docker_engine();
        assert_eq!(check.level, Level::Fail);
        assert!(check.detail.contains("no engine answers"), "{check}");
    }

    #[test]
    fn with_a_working_engine_both_docker_checks_pass() {
        let dir = tempfile::tempdir().unwrap();
        fake_program(dir.path(), "docker", "28.2.2", 0);
        let checks = doctor_with(dir.path()).for_needs(&["docker".into()]);
        assert_eq!(checks.len(), 2);
        assert!(checks.iter().all(|c| c.level == Level::Ok), "{checks:?}");
        assert!(checks[0].detail.contains("28.2.2"), "{}", checks[0]);
    }

    #[test]
    fn kubernetes_checks_explain_each_missing_piece() {
        let dir = tempfile::tempdir().unwrap();
        let checks = doctor_with(dir.path()).for_needs(&["kubernetes".into()]);
        let names: Vec<_> = checks.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            vec!["kubectl", "minikube", "ingress addon", "posts.com"]
        );
        assert!(checks.iter().all(|c| c.level == Level::Fail));

        fake_program(
            dir.path(),
            "minikube",
            r#"{"ingress":{"Status":"enabled"}}"#,
            0,
        );
        std::fs::write(
            dir.path().join("hosts"),
            "127.0.0.1 localhost\n192.168.49.2 posts.com\n",
        )
        .unwrap();
        let doctor = doctor_with(dir.path());
        assert_eq!(doctor.ingress_addon().level, Level::Ok);
        assert_eq!(doctor.hosts_entry().level, Level::Ok);
        std::fs::write(dir.path().join("hosts"), "# 192.168.49.2 posts.com\n").unwrap();
        assert_eq!(
            doctor.hosts_entry().level,
            Level::Fail,
            "a commented-out entry does not count"
        );
    }

    #[test]
    fn a_network_plugin_that_ignores_policies_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let doctor = doctor_with(dir.path());
        assert_eq!(doctor.network_policies().level, Level::Warn);
        fake_program(dir.path(), "kubectl", "daemonset.apps/kindnet", 0);
        let check = doctor.network_policies();
        assert_eq!(check.level, Level::Warn);
        assert!(check.detail.contains("--cni=calico"), "{check}");
        fake_program(dir.path(), "kubectl", "daemonset.apps/calico-node", 0);
        assert_eq!(doctor.network_policies().level, Level::Ok);
    }

    #[test]
    fn rust_versions_are_compared_not_just_found() {
        assert_eq!(
            parse_version("rustc 1.95.0 (59807616e 2026-04-14)"),
            Some((1, 95))
        );
        let dir = tempfile::tempdir().unwrap();
        fake_program(dir.path(), "rustc", "rustc 1.70.0 (abc 2023-06-01)", 0);
        let check = doctor_with(dir.path()).rust();
        assert_eq!(check.level, Level::Fail);
        assert!(check.detail.contains("rustup update"), "{check}");
    }

    #[test]
    fn the_minimum_rust_is_the_workspaces() {
        assert_eq!(major_minor("1.89"), (1, 89));
        assert_eq!(major_minor("1.89.1"), (1, 89));
    }

    #[test]
    fn the_ports_checked_are_the_services_ports() {
        // One per service, as the catalogue says: no port that nothing uses.
        let mut ports = blog_ports();
        ports.sort();
        assert_eq!(ports, [3000, 4000, 4001, 4002, 4003, 4005]);
        assert_eq!(ports.len(), Service::ALL.len());
    }

    #[test]
    fn a_busy_port_is_reported() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(!port_free(port));
        drop(listener);
    }
}
