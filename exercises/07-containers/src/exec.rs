//! `docker exec`: another command in a container that is already running.
//!
//! The new process shares the container's filesystem, network and other
//! processes: it sees what the main command sees. That makes `docker exec -it
//! ID sh` the way to look around inside a running container: [`MiniDocker::exec`]
//! feeds a command its input and collects its output, [`MiniDocker::exec_tty`]
//! gives it a terminal of its own, attached to ours.
//!
//! TODO 5: `exec` below (step 3).
//! TODO 6: `exec_tty` below, what `minidocker exec -it NAME sh` runs (step 4).

#![allow(unused_imports)] // the stub does not use them all yet; your code will

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

    // ANCHOR: exec_tty
    /// `docker exec -it ID CMD...`: runs `cmd` inside the running container
    /// `id` on a terminal of its own, attached to `terminal` (ours) until the
    /// command ends, and returns its exit code. `exec_tty(id, &["sh"], ...)`
    /// is a shell inside the container, with a prompt, line editing and Ctrl-C.
    pub async fn exec_tty(&self, id: &str, cmd: &[&str], terminal: &Terminal) -> Result<i64> {
        // TODO 6: `minidocker exec -it NAME sh` must open a shell inside the
        // container, as `docker exec -it` does. What must become true, checked
        // by `exec_it_opens_a_shell_on_a_terminal_of_its_own` in
        // tests/minidocker_spec.rs (it runs your minidocker on a pseudo-terminal):
        // - the command runs on a terminal the engine makes for it (the shell
        //   shows its prompt, `tty` names a /dev/pts device), attached both
        //   ways: what is typed here reaches it, what it prints reaches stdout;
        // - that terminal has the size of ours, at the start and after every
        //   resize of our window (`stty size` in it says so);
        // - while attached, our terminal is raw (see src/terminal.rs), and it
        //   is back as it was once the command has ended;
        // - the command's exit code is returned.
        let _ = (id, cmd, terminal);
        todo!("TODO 6 in src/exec.rs: attach a terminal to {cmd:?} in container {id} (exec -it)")
    }
    // ANCHOR_END: exec_tty

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
