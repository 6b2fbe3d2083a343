//! The local terminal, as `docker exec -it` uses it: its size, raw mode, and
//! a signal each time its window is resized.
//!
//! With `-t` the command in the container gets a terminal of its own (a
//! pseudo-terminal the engine makes). That terminal does what a terminal
//! does: it echoes what you type, handles Backspace, turns Ctrl-C into
//! SIGINT for the command. So ours must stop doing it, or everything would
//! happen twice: in *raw mode* it hands over every key as it is typed, and
//! shows the bytes that come back as they are.

use std::io::IsTerminal;
use std::os::fd::{AsFd, BorrowedFd};

use anyhow::{Context, Result, bail};
use rustix::termios::{OptionalActions, Termios, tcgetattr, tcgetwinsize, tcsetattr};
use tokio::signal::unix::{Signal, SignalKind, signal};

/// This process's standard input, when it is a terminal.
pub struct Terminal {
    stdin: std::io::Stdin,
}

impl Terminal {
    /// The terminal we were started from, or the error `docker` gives when
    /// there is none (input from a file or a pipe cannot be made raw).
    pub fn stdin() -> Result<Terminal> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            bail!("the input device is not a TTY (-t needs a terminal; use -i alone for a pipe)");
        }
        Ok(Terminal { stdin })
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.stdin.as_fd()
    }

    /// The window's size now, as `(rows, columns)`.
    pub fn size(&self) -> Result<(u16, u16)> {
        let size = tcgetwinsize(self.fd()).context("reading the terminal's size")?;
        Ok((size.ws_row, size.ws_col))
    }

    // ANCHOR: raw
    /// Puts the terminal in raw mode until the returned guard is dropped,
    /// which puts back the settings it found: also on an error or a panic.
    pub fn raw(&self) -> Result<RawMode<'_>> {
        let saved = tcgetattr(self.fd()).context("reading the terminal's settings")?;
        let mut raw = saved.clone();
        raw.make_raw();
        tcsetattr(self.fd(), OptionalActions::Now, &raw).context("switching to raw mode")?;
        Ok(RawMode {
            terminal: self,
            saved,
        })
    }

    // ANCHOR_END: raw

    /// A signal each time the window changes size (SIGWINCH): wait for one
    /// with `.recv().await`, then ask [`Terminal::size`] for the new size.
    pub fn resizes(&self) -> Result<Signal> {
        signal(SignalKind::window_change()).context("listening for window resizes")
    }
}

/// The terminal is raw while this lives.
pub struct RawMode<'a> {
    terminal: &'a Terminal,
    saved: Termios,
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        // Nothing sensible to do if it fails: the terminal is gone already.
        let _ = tcsetattr(self.terminal.fd(), OptionalActions::Now, &self.saved);
    }
}
