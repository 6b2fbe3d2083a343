//! `docker exec`: another command in a container that is already running.
//!
//! The new process shares the container's filesystem, network and other
//! processes: it sees what the main command sees. That makes `docker exec -it
//! ID sh` the way to look around inside a running container.
//!
//! TODO 5: `exec` below.

#![allow(unused_imports)] // the stub does not use them all yet; your code will

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bollard::exec::StartExecResults;
use bollard::models::ExecConfig;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::MiniDocker;

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
        // TODO 5: `cmd` must run inside the running container `id` as an
        // exec of its own, with `input` (when there is some) as its standard
        // input, closed at the end; everything it prints must reach `out`,
        // and its exit code must be returned. Checked by
        // `exec_runs_another_command_inside_the_running_container` in
        // tests/minidocker_spec.rs.
        let _ = (cmd, input, out);
        todo!("TODO 5 in src/exec.rs: run a command inside container {id}")
    }
    // ANCHOR_END: exec

    /// The exit code of a finished exec. Its output has ended, so it has
    /// finished or is about to: the engine may need a moment to record it.
    #[allow(dead_code)] // your `exec` will use it
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
