use std::io;
use std::net::SocketAddr;

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Logs go to stderr through `tracing`; `RUST_LOG` picks the level (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .try_init();
}

/// Resolves on SIGTERM (what `docker stop` and Kubernetes send) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

/// The start of the one line a service prints on stdout once it listens,
/// followed by its URL: `listening on http://127.0.0.1:43817`. A parent that
/// asked for port 0 reads it instead of guessing a free port in advance
/// (a port picked and released before the child binds it is a race).
pub const LISTENING_PREFIX: &str = "listening on ";

/// A running service: its address, and the switch that stops it and its
/// background tasks together.
pub struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    serving: JoinHandle<io::Result<()>>,
    background: Vec<JoinHandle<()>>,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port) and starts serving `router`.
    pub async fn start(addr: SocketAddr, router: Router) -> io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        // Small JSON answers must leave at once: with Nagle's algorithm on, a
        // reply can wait for a delayed ACK (up to 40 ms) on every hop.
        let listener = listener.tap_io(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "could not set TCP_NODELAY");
            }
        });
        let (stop, mut stopped) = watch::channel(false);
        let serving = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                })
                .await
        });
        Ok(Server {
            addr,
            stop,
            serving,
            background: Vec::new(),
        })
    }

    /// The address the service really listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, handy for tests.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A receiver that turns `true` when the service is asked to stop; give it
    /// to background tasks so they end with the server.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Ties a background task's life to the server's: [`Server::stop`] waits for it.
    pub fn attach(&mut self, task: JoinHandle<()>) {
        self.background.push(task);
    }

    /// Stops accepting connections, lets requests in flight finish, and waits
    /// for background tasks to wind down.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Ok(Err(error)) = self.serving.await {
            tracing::error!(%error, "server ended with an error");
        }
        for task in self.background {
            let _ = task.await;
        }
    }

    /// Serves until SIGTERM or Ctrl-C, then stops gracefully. What `main` calls.
    pub async fn run_until_signal(self) {
        tracing::info!(addr = %self.addr, "listening");
        // One plain line on stdout, for whoever started us on port 0 (a
        // test, the launcher): the address we really bound. See
        // [`LISTENING_PREFIX`].
        println!("{LISTENING_PREFIX}{}", self.url());
        shutdown_signal().await;
        tracing::info!("shutting down");
        self.stop().await;
        tracing::info!("stopped");
    }
}
