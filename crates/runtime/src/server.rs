use std::io;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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

/// Resolves on SIGTERM (what `docker stop` and Kubernetes send) or Ctrl-C
/// (SIGINT).
///
/// The handlers are installed when this is *called*, not when the future is
/// first polled: a process that says "listening" and only then waits must
/// not be killed by a signal that arrives in between (the default action of
/// both signals ends a process on the spot). Call it inside a Tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        async fn received(signal: io::Result<Signal>) {
            match signal {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        }
        let interrupt = received(signal(SignalKind::interrupt()));
        let terminate = received(signal(SignalKind::terminate()));
        async move {
            tokio::select! {
                () = interrupt => {}
                () = terminate => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The start of the one line a service prints on stdout once it listens,
/// followed by its URL: `listening on http://127.0.0.1:43817`. A parent that
/// asked for port 0 reads it instead of guessing a free port in advance
/// (a port picked and released before the child binds it is a race).
pub const LISTENING_PREFIX: &str = "listening on ";

/// How long requests in flight may take to finish once the service is asked
/// to stop, unless `SHUTDOWN_TIMEOUT_SECS` says otherwise. Well inside
/// `docker stop`'s 10 s and Kubernetes' 30 s grace periods, so the service
/// always exits by itself before it is killed.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The variable that sets [`DEFAULT_SHUTDOWN_TIMEOUT`] differently (seconds,
/// fractions allowed: `0.5`).
pub const SHUTDOWN_TIMEOUT_VAR: &str = "SHUTDOWN_TIMEOUT_SECS";

/// Where a socket handed over by the parent process is, as in systemd's socket
/// activation protocol: `LISTEN_FDS=1` says "file descriptor 3 is a listening
/// socket for you".
const FIRST_INHERITED_FD: i32 = 3;

/// A running service: its address, and the switch that stops it and its
/// background tasks together.
pub struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    serving: JoinHandle<io::Result<()>>,
    background: Vec<JoinHandle<()>>,
    shutdown_timeout: Duration,
}

impl Server {
    /// Serves `router` on the listening socket the parent handed over, if
    /// there is one (`LISTEN_FDS=1`, systemd's socket activation), else on
    /// `addr` (port 0 picks a free port).
    ///
    /// A launcher that binds the socket itself and hands it over knows the
    /// port before the service starts, with no race: nobody else can take
    /// the port between its choice and the bind. And a service it restarts
    /// finds the same socket, with the connections that arrived meanwhile
    /// waiting in its queue.
    pub async fn start(addr: SocketAddr, router: Router) -> io::Result<Server> {
        let shutdown_timeout = shutdown_timeout_from_env()?;
        let listener = match inherited_listener()? {
            Some(listener) => listener,
            None => TcpListener::bind(addr).await?,
        };
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
            shutdown_timeout,
        })
    }

    /// How long [`Server::stop`] lets requests in flight finish before it
    /// gives up on them (default [`DEFAULT_SHUTDOWN_TIMEOUT`]).
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Server {
        self.shutdown_timeout = timeout;
        self
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
    /// for background tasks to wind down, for at most the shutdown timeout.
    ///
    /// Why a deadline: one client that never finishes its request (a slow
    /// upload, a stuck connection) would otherwise keep the service alive
    /// until it is killed, and a killed service is one whose background
    /// tasks never got to finish. After the deadline the rest is abandoned;
    /// in `main` the process then exits, which closes those connections.
    pub async fn stop(self) {
        let Server {
            stop,
            mut serving,
            mut background,
            shutdown_timeout,
            ..
        } = self;
        let _ = stop.send(true);
        let wind_down = async {
            if let Ok(Err(error)) = (&mut serving).await {
                tracing::error!(%error, "server ended with an error");
            }
            for task in &mut background {
                let _ = task.await;
            }
        };
        if tokio::time::timeout(shutdown_timeout, wind_down)
            .await
            .is_err()
        {
            tracing::warn!(
                timeout = ?shutdown_timeout,
                "requests still in flight after the shutdown timeout: stopping anyway"
            );
            serving.abort();
            for task in background {
                task.abort();
            }
        }
    }

    /// Serves until SIGTERM or Ctrl-C, then stops gracefully. What `main` calls.
    pub async fn run_until_signal(self) {
        // Listen for signals before anyone learns that we are up.
        let signal = shutdown_signal();
        tracing::info!(addr = %self.addr, "listening");
        // One plain line on stdout, for whoever started us on port 0 (a
        // test, the launcher): the address we really bound. See
        // [`LISTENING_PREFIX`].
        println!("{LISTENING_PREFIX}{}", self.url());
        signal.await;
        tracing::info!("shutting down");
        self.stop().await;
        tracing::info!("stopped");
    }
}

/// Reads [`SHUTDOWN_TIMEOUT_VAR`]; a value that is not a number of seconds is
/// a configuration error, reported instead of silently replaced.
fn shutdown_timeout_from_env() -> io::Result<Duration> {
    let Ok(text) = std::env::var(SHUTDOWN_TIMEOUT_VAR) else {
        return Ok(DEFAULT_SHUTDOWN_TIMEOUT);
    };
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{SHUTDOWN_TIMEOUT_VAR} must be a number of seconds, like 5 (got {text:?})"
                ),
            )
        })
}

/// The listening socket handed over by the parent, if it handed one over.
///
/// The protocol is systemd's socket activation, so systemd itself could start
/// a service too: `LISTEN_FDS=1` means file descriptor 3 is ours. When
/// `LISTEN_PID` is set, it must be our process id (the variables were meant
/// for us, not for our parent). Our launcher leaves `LISTEN_PID` out: it
/// cannot know the pid before the child exists, and setting a variable
/// between `fork` and `exec` is not safe; the services start no processes
/// of their own that could inherit it by mistake.
///
/// Only the first server of a process adopts the socket; any other binds
/// its own address.
fn inherited_listener() -> io::Result<Option<TcpListener>> {
    static ADOPTED: AtomicBool = AtomicBool::new(false);
    let Ok(count) = std::env::var("LISTEN_FDS") else {
        return Ok(None);
    };
    if let Ok(pid) = std::env::var("LISTEN_PID")
        && pid.trim() != std::process::id().to_string()
    {
        return Ok(None);
    }
    if count.trim() != "1" {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("LISTEN_FDS={count:?}: a blog service takes exactly one listening socket"),
        ));
    }
    if ADOPTED.swap(true, Ordering::SeqCst) {
        return Ok(None);
    }
    // SAFETY: `LISTEN_FDS=1` is the parent's promise that descriptor 3 is an
    // open socket handed to this process, and nothing else in it claims
    // descriptor 3: the standard streams are 0 to 2, files opened later get
    // other numbers while 3 is open, and `ADOPTED` lets this run only once.
    // So the `OwnedFd` is its only owner. `fcntl` below checks that it is
    // open before anything else uses it.
    let fd = unsafe { OwnedFd::from_raw_fd(FIRST_INHERITED_FD) };
    let not_ours = |error: &dyn std::fmt::Display| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("LISTEN_FDS=1, but descriptor 3 is not a listening TCP socket ({error})"),
        )
    };
    // Close it on `exec`, like every descriptor Rust opens, so a program we
    // might start does not inherit our socket.
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    if let Err(error) = fcntl(&fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)) {
        // Not open after all: do not let the `OwnedFd` close a descriptor
        // that was never ours.
        std::mem::forget(fd);
        return Err(not_ours(&error));
    }
    let listener = std::net::TcpListener::from(fd);
    listener.local_addr().map_err(|error| not_ours(&error))?;
    listener.set_nonblocking(true)?;
    TcpListener::from_std(listener).map(Some)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use axum::routing::post;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn stop_gives_up_on_a_request_that_never_finishes() {
        let router = Router::new().route("/upload", post(|body: String| async move { body }));
        let server = Server::start("127.0.0.1:0".parse().unwrap(), router)
            .await
            .unwrap()
            .with_shutdown_timeout(Duration::from_millis(300));

        // A slow client: it announces 1000 bytes and sends 5. `Expect:
        // 100-continue` makes the server say when the handler starts reading
        // the body, so we know the request is in flight before we stop.
        let mut slow = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        slow.write_all(
            b"POST /upload HTTP/1.1\r\nhost: test\r\ncontent-type: text/plain\r\n\
              content-length: 1000\r\nexpect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
        let mut answer = [0u8; 64];
        let read = slow.read(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer[..read]);
        assert!(answer.starts_with("HTTP/1.1 100"), "{answer}");
        slow.write_all(b"hello").await.unwrap();

        let asked = Instant::now();
        tokio::time::timeout(Duration::from_secs(5), server.stop())
            .await
            .expect("stop must return after its timeout, not wait for the slow client");
        let took = asked.elapsed();
        assert!(
            took >= Duration::from_millis(300),
            "the request in flight gets its time first ({took:?})"
        );
    }
}
