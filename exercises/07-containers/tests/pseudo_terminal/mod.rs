//! A pseudo-terminal for the `exec -it` test: a program started on it sees
//! a real terminal (it can make it raw, ask its size, be told of a resize),
//! and the test plays the person at the keyboard from the other end.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags, open};
use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use rustix::termios::{LocalModes, Winsize, tcgetattr, tcsetwinsize};

/// A program started on the terminal; killed if the test ends before it does.
pub struct Program(pub Child);

impl Drop for Program {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The two ends of a pseudo-terminal: the test holds the keyboard-and-screen
/// end, the program under test gets the terminal end as stdin, stdout and stderr.
pub struct PseudoTerminal {
    keyboard: File,
    terminal: OwnedFd,
    screen: Receiver<Vec<u8>>,
    /// Everything the program has printed so far.
    pub seen: String,
    /// How much of `seen` an earlier `wait_for` has already matched.
    matched: usize,
}

impl PseudoTerminal {
    /// A new pseudo-terminal whose window is `rows` x `columns`.
    pub fn open(rows: u16, columns: u16) -> PseudoTerminal {
        let keyboard = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("a pseudo-terminal");
        grantpt(&keyboard).expect("grantpt");
        unlockpt(&keyboard).expect("unlockpt");
        let name = ptsname(&keyboard, Vec::new()).expect("the terminal's name");
        let terminal = open(
            name.as_c_str(),
            OFlags::RDWR | OFlags::NOCTTY,
            Mode::empty(),
        )
        .expect("the terminal end");
        let keyboard = File::from(keyboard);
        let mut reader = keyboard.try_clone().expect("a second handle");
        let (sender, screen) = channel();
        // Reads what the program prints as it comes; it ends when the
        // terminal end is closed for good.
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = reader.read(&mut buffer) {
                if sender.send(buffer[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let pty = PseudoTerminal {
            keyboard,
            terminal,
            screen,
            seen: String::new(),
            matched: 0,
        };
        pty.resize(rows, columns);
        pty
    }

    /// Starts `command` with this terminal as its stdin, stdout and stderr.
    pub fn spawn(&self, command: &mut Command) -> Program {
        let end = || Stdio::from(self.terminal.try_clone().expect("a handle on the terminal"));
        let child = command
            .stdin(end())
            .stdout(end())
            .stderr(end())
            .spawn()
            .expect("the program starts");
        Program(child)
    }

    /// Types `keys`, as a person would (Enter is "\r").
    pub fn type_keys(&mut self, keys: &str) {
        self.keyboard.write_all(keys.as_bytes()).expect("typing");
    }

    /// Waits (at most `patience`) until the program has printed `text`
    /// since the last match; false if it has not.
    pub fn wait_for(&mut self, text: &str, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(at) = self.seen[self.matched..].find(text) {
                self.matched += at + text.len();
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.screen.recv_timeout(left) {
                Ok(bytes) => self.seen.push_str(&String::from_utf8_lossy(&bytes)),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return false,
            }
        }
    }

    /// The end of what the program printed, for a failure message.
    pub fn screen(&self) -> String {
        let chars: Vec<char> = self.seen.chars().collect();
        let start = chars.len().saturating_sub(1500);
        chars[start..].iter().collect()
    }

    /// Whether the terminal is in raw mode now: no line editing, no echo.
    pub fn is_raw(&self) -> bool {
        let settings = tcgetattr(&self.terminal).expect("the terminal's settings");
        !settings
            .local_modes
            .intersects(LocalModes::ICANON | LocalModes::ECHO)
    }

    /// Changes the window's size, as dragging its corner does.
    pub fn resize(&self, rows: u16, columns: u16) {
        let size = Winsize {
            ws_row: rows,
            ws_col: columns,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        tcsetwinsize(&self.keyboard, size).expect("resizing the terminal");
    }
}
