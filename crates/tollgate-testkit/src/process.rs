//! A service binary under test: started with its environment, its address read from
//! the first line it prints (`listening on <addr>` or `listening on http://<addr>`),
//! killed when the guard drops.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::process::Command;
//! use tollgate_testkit::process::RunningBinary;
//!
//! let mut cmd = Command::new("target/debug/axum-orders");
//! cmd.env("BIND", "127.0.0.1:0");
//! let orders = RunningBinary::start(cmd).await?;
//! println!("serving on {}", orders.addr());
//! # Ok(()) }
//! ```

use std::io::{self, BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running binary; killed (and reaped) on drop.
#[derive(Debug)]
pub struct RunningBinary {
    child: Child,
    addr: String,
}

impl RunningBinary {
    /// Starts `cmd` with its standard output piped and waits for its first line, which
    /// must be `listening on <addr>` (an `http://` before the address is dropped).
    ///
    /// # Errors
    /// The spawn error; [`io::ErrorKind::InvalidData`] (the binary killed) when the
    /// first line is something else, e.g. because the binary exited on a bad
    /// configuration.
    pub async fn start(mut cmd: Command) -> io::Result<Self> {
        let mut child = cmd.stdout(Stdio::piped()).spawn()?;
        let Some(stdout) = child.stdout.take() else {
            return Err(io::Error::other("no standard output"));
        };
        // own the child at once, so that it is killed on every error path
        let mut running = RunningBinary {
            child,
            addr: String::new(),
        };
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        })
        .await
        .map_err(io::Error::other)??;
        let addr = line.trim().strip_prefix("listening on ").ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unexpected first line {line:?}"),
            )
        })?;
        running.addr = addr.strip_prefix("http://").unwrap_or(addr).to_owned();
        Ok(running)
    }

    /// The address it listens on (`host:port`).
    #[must_use]
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl Drop for RunningBinary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
