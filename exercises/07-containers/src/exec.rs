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
        // TODO 5: an exec is made, then started. `self.docker.create_exec(id,
        // ExecConfig { cmd, attach_stdout, attach_stderr, attach_stdin, .. })`
        // gives its id; `start_exec(&exec_id, None)` answers
        // `StartExecResults::Attached { output, input }`. Write `input` (if
        // any) to `input`, then `shutdown()` it; copy `output` to `out`; and
        // return `self.exec_exit_code(&exec_id)`.
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
