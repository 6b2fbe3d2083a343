//! The broker of chapter 10, NATS JetStream: where its server program is
//! found, how to install it, and the three nodes of the local cluster.
//! `cargo workbook up --bus nats`, `doctor`, the launcher and the tests
//! read these facts here.

use std::path::PathBuf;

/// The server program's name.
pub const NATS_SERVER: &str = "nats-server";

/// What to do when it is missing, in one line.
pub const NATS_INSTALL: &str = "install nats-server: `apt-get install nats-server` (Debian, \
     Ubuntu), `brew install nats-server` (macOS), or the release binary from \
     github.com/nats-io/nats-server/releases";

/// One node of the local three-node cluster (`cargo workbook up --bus nats`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatsNode {
    /// Its `server_name`; also the folder of its store under `<data dir>/nats/`.
    pub name: &'static str,
    /// Where clients (the services) connect.
    pub client_port: u16,
    /// Where the other nodes connect to it (routes).
    pub cluster_port: u16,
    /// Its monitoring endpoint (`/healthz`, `/jsz`).
    pub monitor_port: u16,
}

/// The local cluster's name.
pub const NATS_CLUSTER: &str = "blog";

/// The local cluster: three nodes, so any one may fail and a majority remains.
pub const NATS_NODES: [NatsNode; 3] = [
    NatsNode {
        name: "n1",
        client_port: 4222,
        cluster_port: 6222,
        monitor_port: 8222,
    },
    NatsNode {
        name: "n2",
        client_port: 4223,
        cluster_port: 6223,
        monitor_port: 8223,
    },
    NatsNode {
        name: "n3",
        client_port: 4224,
        cluster_port: 6224,
        monitor_port: 8224,
    },
];

/// Where the packages put `nats-server`, searched after `PATH`: Debian's
/// is in `/usr/sbin`, which an ordinary user's `PATH` often lacks.
pub const NATS_SERVER_DIRS: [&str; 3] = ["/usr/sbin", "/usr/local/bin", "/opt/homebrew/bin"];

/// The `nats-server` program: `$NATS_SERVER` if set, else the first on
/// `PATH`, else in [`NATS_SERVER_DIRS`].
pub fn find_nats_server() -> Option<PathBuf> {
    if let Some(set) = std::env::var_os("NATS_SERVER") {
        return Some(PathBuf::from(set)).filter(|path| path.is_file());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(NATS_SERVER_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(NATS_SERVER))
        .find(|candidate| candidate.is_file())
}
