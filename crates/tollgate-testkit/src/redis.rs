//! A real `redis-server` for tests: started on a free loopback port without
//! persistence, ready when it answers `PING`, killed on drop; it can be stopped and
//! started again on the same port (to test a Redis outage and its recovery).
//!
//! ```no_run
//! use tollgate_testkit::redis::RedisServer;
//!
//! let Some(mut redis) = RedisServer::start_or_skip("my_test") else { return Ok(()) };
//! let url = redis.url(); // redis://127.0.0.1:<port>/0
//! redis.stop();          // an outage
//! redis.restart()?;      // back, same port, empty
//! # let _ = url;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The program started (`redis-server` on the `PATH`, or `TOLLGATE_REDIS_SERVER`).
#[must_use]
pub fn program() -> String {
    std::env::var("TOLLGATE_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned())
}

/// True when the `redis-server` program can be run.
#[must_use]
pub fn available() -> bool {
    Command::new(program())
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A `redis-server` child process on `127.0.0.1:<port>` (no RDB, no AOF).
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one on a free port and waits (up to 10 s) until it answers `PING`.
    ///
    /// # Errors
    /// The program could not be started or did not answer in time.
    pub fn start() -> io::Result<Self> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let mut server = RedisServer { port, child: None };
        server.restart()?;
        Ok(server)
    }

    /// [`Self::start`] when `redis-server` is installed; otherwise prints why `test`
    /// is skipped and returns `None` — except under `CI` (set and not `0`/`false`),
    /// where a missing `redis-server` panics so CI cannot pass without it.
    ///
    /// # Panics
    /// Under `CI` when `redis-server` is missing, and whenever it fails to start.
    #[must_use]
    pub fn start_or_skip(test: &str) -> Option<Self> {
        if !available() {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
            assert!(
                !ci,
                "{test}: `{}` is not installed and CI is set (apt-get install redis-server)",
                program()
            );
            eprintln!(
                "!!!! SKIPPED {test}: `{}` is not installed (apt-get install redis-server) !!!!",
                program()
            );
            return None;
        }
        match Self::start() {
            Ok(s) => Some(s),
            Err(e) => panic!("{test}: redis-server did not start: {e}"),
        }
    }

    /// The port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `redis://127.0.0.1:<port>/0`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// True while the process runs.
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server and waits until the port refuses connections (an outage).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: nothing is persisted) and
    /// waits until it answers `PING`.
    ///
    /// # Errors
    /// The program could not be started or did not answer within 10 s.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        let child = Command::new(program())
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--protected-mode", "yes"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.ping() {
                return Ok(());
            }
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(io::Error::other(format!(
                    "redis-server exited at start ({status}); port {} taken?",
                    self.port
                )));
            }
            if Instant::now() >= deadline {
                self.stop();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "redis-server did not answer PING within 10 s",
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// True when the server answers `PING` with `PONG`.
    #[must_use]
    pub fn ping(&self) -> bool {
        self.command(&["PING"]).is_ok_and(|r| r == "+PONG")
    }

    /// Sends one command (RESP array of bulk strings) and returns the first line of
    /// the answer (e.g. `+OK`, `:3`, `$-1`), for tests that look into the store.
    ///
    /// # Errors
    /// Connection or I/O failure.
    pub fn command(&self, args: &[&str]) -> io::Result<String> {
        let mut s = TcpStream::connect_timeout(&self.addr(), Duration::from_secs(1))?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes())?;
        let mut buf = [0u8; 512];
        let mut out = Vec::new();
        while !out.ends_with(b"\r\n") {
            let n = s.read(&mut buf)?;
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&out);
        Ok(text.lines().next().unwrap_or_default().to_owned())
    }

    /// The number of keys starting with `prefix` (`KEYS prefix*`; tests only).
    ///
    /// # Errors
    /// Connection or I/O failure, or an answer that is not an array.
    pub fn count_keys(&self, prefix: &str) -> io::Result<usize> {
        let line = self.command(&["KEYS", &format!("{prefix}*")])?;
        line.strip_prefix('*')
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| io::Error::other(format!("unexpected answer {line:?}")))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
