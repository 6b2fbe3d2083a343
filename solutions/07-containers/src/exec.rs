//! `docker exec`: another command in a container that is already running.
//!
//! The new process shares the container's filesystem, network and other
//! processes: it sees what the main command sees. That makes `docker exec -it
//! ID sh` the way to look around inside a running container: [`MiniDocker::exec`]
//! feeds a command its input and collects its output, [`MiniDocker::exec_tty`]
//! gives it a terminal of its own, attached to ours.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bollard::exec::{ResizeExecOptions, StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::MiniDocker;
use crate::terminal::Terminal;

impl MiniDocker {
    // ANCHOR: exec
    /// `docker exec ID CMD...`: runs `cmd` inside the running container `id`,
    /// copies its output to `out` and returns its exit code. With `input`,
    /// those bytes are the command's standard input (`docker exec -i`), so
    /// `exec(id, &["sh"], Some(b"ls /\n"), ...)` is a small shell session.
    pub async fn exec(
        &self,
        id: &str,
        cmd: &[&str],
        input: Option<&[u8]>,
        out: &mut impl Write,
    ) -> Result<i64> {
        let config = ExecConfig {
            cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
            attach_stdin: Some(input.is_some()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let exec_id = self
            .docker
            .create_exec(id, config)
            .await
            .with_context(|| format!("preparing {cmd:?} in container {id}"))?
            .id;
        let started = self
            .docker
            .start_exec(&exec_id, None)
            .await
            .with_context(|| format!("running {cmd:?} in container {id}"))?;
        let StartExecResults::Attached {
            mut output,
            input: mut stdin,
        } = started
        else {
            bail!("the engine started {cmd:?} detached; we asked to stay attached");
        };
        if let Some(bytes) = input {
            stdin.write_all(bytes).await?;
            // Closing our end is the command's end of input (Ctrl-D).
            stdin.shutdown().await?;
        }
        while let Some(chunk) = output.next().await {
            out.write_all(chunk.context("reading the command's output")?.as_ref())?;
            out.flush()?;
        }
        self.exec_exit_code(&exec_id).await
    }
    // ANCHOR_END: exec

    // ANCHOR: exec_tty
    /// `docker exec -it ID CMD...`: runs `cmd` inside the running container
    /// `id` on a terminal of its own, attached to `terminal` (ours) until the
    /// command ends, and returns its exit code. `exec_tty(id, &["sh"], ...)`
    /// is a shell inside the container, with a prompt, line editing and Ctrl-C.
    pub async fn exec_tty(&self, id: &str, cmd: &[&str], terminal: &Terminal) -> Result<i64> {
        let config = ExecConfig {
            cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(true),
            ..Default::default()
        };
        let exec_id = self
            .docker
            .create_exec(id, config)
            .await
            .with_context(|| format!("preparing {cmd:?} in container {id}"))?
            .id;
        let options = StartExecOptions {
            tty: true,
            ..Default::default()
        };
        let started = self
            .docker
            .start_exec(&exec_id, Some(options))
            .await
            .with_context(|| format!("running {cmd:?} in container {id}"))?;
        let StartExecResults::Attached {
            mut output,
            input: mut keys,
        } = started
        else {
            bail!("the engine started {cmd:?} detached; we asked to stay attached");
        };
        // Its terminal starts with no size; give it ours before it draws anything.
        self.resize_exec(&exec_id, terminal).await?;
        let mut resizes = terminal.resizes()?;

        // From here on every key goes to the container's terminal as it is
        // typed (Ctrl-C too), and its echo is the only one. Dropping the
        // guard, however we leave, gives the user their terminal back.
        let _raw = terminal.raw()?;
        let copying_keys = tokio::spawn(async move {
            let _ = tokio::io::copy(&mut tokio::io::stdin(), &mut keys).await;
        });
        let mut screen = tokio::io::stdout();
        loop {
            tokio::select! {
                chunk = output.next() => {
                    let Some(chunk) = chunk else { break };
                    screen.write_all(chunk.context("reading the command's output")?.as_ref()).await?;
                    screen.flush().await?;
                }
                Some(()) = resizes.recv() => self.resize_exec(&exec_id, terminal).await?,
            }
        }
        // The command has ended; whatever is typed now is not for it.
        copying_keys.abort();
        self.exec_exit_code(&exec_id).await
    }
    // ANCHOR_END: exec_tty

    /// Gives the exec's terminal the size of ours, as `docker` does at the
    /// start and on every resize: full-screen programs (`vi`, `top`) draw to it.
    async fn resize_exec(&self, exec_id: &str, terminal: &Terminal) -> Result<()> {
        let (height, width) = terminal.size()?;
        self.docker
            .resize_exec(exec_id, ResizeExecOptions { height, width })
            .await
            .context("resizing the command's terminal")
    }

    /// The exit code of a finished exec. Its output has ended, so it has
    /// finished or is about to: the engine may need a moment to record it.
    async fn exec_exit_code(&self, exec_id: &str) -> Result<i64> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let state = self.docker.inspect_exec(exec_id).await?;
            if state.running == Some(false)
                && let Some(code) = state.exit_code
            {
                return Ok(code);
            }
            if Instant::now() > deadline {
                bail!("the exec {exec_id} still runs 10 s after its output ended");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
