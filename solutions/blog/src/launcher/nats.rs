//! A three-node NATS JetStream cluster on this machine, from the system's
//! `nats-server` (chapter 10): what `up --bus nats` runs before the
//! services, and what the fault tests kill and restart.
//!
//! Each node has its own client, cluster and monitoring port, its own
//! `server_name` and its own store under `<data dir>/nats/<name>`, and
//! lists the routes of all three, so they find each other in any order.
//! The stores are kept: a restart finds the streams as they were.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use blog_catalogue::broker::{NATS_CLUSTER, NATS_INSTALL, NATS_NODES, find_nats_server};
use tokio::process::{Child, Command};

/// One node's ports and name.
#[derive(Clone, Debug)]
pub struct NodePlan {
    pub name: String,
    pub client_port: u16,
    pub cluster_port: u16,
    pub monitor_port: u16,
}

/// The cluster: the program, where the data goes, the nodes.
#[derive(Clone, Debug)]
pub struct ClusterPlan {
    pub program: PathBuf,
    /// `<data dir>/nats`: each node's store and log, and its config file.
    pub dir: PathBuf,
    pub nodes: Vec<NodePlan>,
}

impl ClusterPlan {
    /// The catalogue's three nodes (client ports 4222 to 4224), with their
    /// data under `data_dir/nats`. Fails, saying how to install it, when
    /// there is no `nats-server`.
    pub fn local(data_dir: &Path) -> Result<ClusterPlan> {
        let Some(program) = find_nats_server() else {
            bail!("the NATS bus needs nats-server, which is not installed; {NATS_INSTALL}");
        };
        Ok(ClusterPlan {
            program,
            dir: data_dir.join("nats"),
            nodes: NATS_NODES
                .iter()
                .map(|node| NodePlan {
                    name: node.name.to_string(),
                    client_port: node.client_port,
                    cluster_port: node.cluster_port,
                    monitor_port: node.monitor_port,
                })
                .collect(),
        })
    }

    /// Every port free ones instead (tests side by side). A node must know
    /// the others' cluster ports before they start, so these are chosen by
    /// binding port 0 and letting go: another program could take one in
    /// between, which would show as a node that does not start.
    pub fn on_free_ports(mut self) -> Result<ClusterPlan> {
        let mut held = Vec::new();
        let mut free = || -> Result<u16> {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            let port = listener.local_addr()?.port();
            held.push(listener);
            Ok(port)
        };
        for node in &mut self.nodes {
            node.client_port = free()?;
            node.cluster_port = free()?;
            node.monitor_port = free()?;
        }
        Ok(self)
    }

    /// `EVENT_BUS_URL` for the services: every node, so the client fails
    /// over to any of them.
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(|node| format!("nats://127.0.0.1:{}", node.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A node's configuration file.
    fn config(&self, node: &NodePlan) -> String {
        let routes: Vec<String> = self
            .nodes
            .iter()
            .map(|other| format!("nats://127.0.0.1:{}", other.cluster_port))
            .collect();
        let store = self.dir.join(&node.name);
        let log = self.dir.join(format!("{}.log", node.name));
        format!(
            "server_name: {name}\n\
             listen: 127.0.0.1:{client}\n\
             http: 127.0.0.1:{monitor}\n\
             log_file: {log:?}\n\
             jetstream {{\n  store_dir: {store:?}\n}}\n\
             cluster {{\n  name: {cluster}\n  listen: 127.0.0.1:{route}\n  routes: [{routes}]\n}}\n",
            name = node.name,
            client = node.client_port,
            monitor = node.monitor_port,
            route = node.cluster_port,
            cluster = NATS_CLUSTER,
            routes = routes.join(", "),
        )
    }
}

/// The running cluster. Every node is killed when this is dropped.
pub struct NatsCluster {
    plan: ClusterPlan,
    children: Vec<Option<Child>>,
    http: reqwest::Client,
}

impl NatsCluster {
    /// Starts the three nodes and waits until each says it is healthy
    /// (`/healthz`: JetStream is up and knows its meta leader).
    pub async fn start(plan: ClusterPlan) -> Result<NatsCluster> {
        std::fs::create_dir_all(&plan.dir)
            .with_context(|| format!("creating {}", plan.dir.display()))?;
        let mut cluster = NatsCluster {
            children: plan.nodes.iter().map(|_| None).collect(),
            plan,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()?,
        };
        for node in 0..cluster.plan.nodes.len() {
            cluster.spawn(node)?;
        }
        for node in 0..cluster.plan.nodes.len() {
            cluster.wait_healthy(node, Duration::from_secs(60)).await?;
        }
        Ok(cluster)
    }

    pub fn plan(&self) -> &ClusterPlan {
        &self.plan
    }

    /// `EVENT_BUS_URL` for the services.
    pub fn urls(&self) -> String {
        self.plan.urls()
    }

    /// Each running node's `server_name` and process id (for the bench's
    /// memory table: on NATS the nodes are the bus).
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.plan
            .nodes
            .iter()
            .zip(&self.children)
            .filter_map(|(node, child)| Some((node.name.clone(), child.as_ref()?.id()?)))
            .collect()
    }

    fn spawn(&mut self, node: usize) -> Result<()> {
        let plan = &self.plan.nodes[node];
        let config = self.plan.dir.join(format!("{}.conf", plan.name));
        std::fs::write(&config, self.plan.config(plan))
            .with_context(|| format!("writing {}", config.display()))?;
        let child = Command::new(&self.plan.program)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.plan.program.display()))?;
        self.children[node] = Some(child);
        Ok(())
    }

    /// Waits until node `node` answers its `/healthz` with 200.
    pub async fn wait_healthy(&mut self, node: usize, within: Duration) -> Result<()> {
        let plan = &self.plan.nodes[node];
        let url = format!("http://127.0.0.1:{}/healthz", plan.monitor_port);
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(child) = self.children[node].as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "nats-server {} exited at start ({status}); see {}",
                    plan.name,
                    self.plan.dir.join(format!("{}.log", plan.name)).display()
                );
            }
            // What the node said last: its `/healthz` names what it still
            // waits for (a meta leader, a stream or consumer catching up).
            let last = match self.http.get(&url).send().await {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => {
                    let status = response.status();
                    let body = response.text().await.unwrap_or_default();
                    format!("{status} {}", body.trim())
                }
                Err(error) => error.to_string(),
            };
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "nats-server {} was not healthy within {within:?}; it said last: {last}",
                    plan.name
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The index of the node called `name` (`n1`...).
    pub fn node_named(&self, name: &str) -> Option<usize> {
        self.plan.nodes.iter().position(|node| node.name == name)
    }

    /// SIGKILL: a node lost without warning, like a machine that died.
    pub async fn kill(&mut self, node: usize) -> Result<()> {
        if let Some(mut child) = self.children[node].take() {
            child.kill().await?;
        }
        Ok(())
    }

    /// SIGTERM, then waits for the node to exit (it hands over what it leads).
    pub async fn stop(&mut self, node: usize) -> Result<()> {
        if let Some(mut child) = self.children[node].take() {
            if let Some(pid) = child.id() {
                let pid = nix::unistd::Pid::from_raw(pid as i32);
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            }
            if tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .is_err()
            {
                child.kill().await?;
            }
        }
        Ok(())
    }

    /// Starts a node that was killed or stopped, with its store as it was,
    /// and waits until it is healthy (it has caught up with the others).
    pub async fn restart(&mut self, node: usize) -> Result<()> {
        self.start_again(node)?;
        self.wait_healthy(node, Duration::from_secs(60)).await
    }

    /// Starts a node that was killed or stopped, with its store as it was,
    /// and returns at once: for a caller that judges recovery by what the
    /// system does, not by the node's own `/healthz`. (A node's `/healthz`
    /// waits for every stream and consumer it holds to have elected a leader
    /// and caught up; with two of three nodes on a loaded machine that once
    /// took longer than a minute.)
    pub fn start_again(&mut self, node: usize) -> Result<()> {
        if self.children[node].is_none() {
            self.spawn(node)?;
        }
        Ok(())
    }

    /// Stops every node.
    pub async fn shutdown(mut self) {
        for node in 0..self.children.len() {
            let _ = self.stop(node).await;
        }
    }
}

/// `up --bus nats`: the cluster (its data under the plan's data dir; with
/// `free_ports`, on free ports), then the plan's services on it, until
/// Ctrl-C; then the services stop, and the cluster after them.
pub async fn up_on_nats(plan: super::Plan, free_ports: bool) -> Result<()> {
    let mut cluster_plan = ClusterPlan::local(&plan.data_dir)?;
    if free_ports {
        cluster_plan = cluster_plan.on_free_ports()?;
    }
    println!(
        "Starting a three-node NATS JetStream cluster ({}), data in {}...",
        cluster_plan.urls(),
        cluster_plan.dir.display()
    );
    let cluster = NatsCluster::start(cluster_plan).await?;
    let system = plan.on_nats(&cluster.urls()).launch().await?;
    println!("\nThe events go through NATS JetStream: {}", cluster.urls());
    system.run_until_signal().await;
    println!("  nats        stopping the three nodes");
    cluster.shutdown().await;
    Ok(())
}
