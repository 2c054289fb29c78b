//! Running a Promptyard binary as a real process, and talking plain HTTP/1.1
//! to it, for the tests that must see what a user of the binary sees.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::api::{Actor, Response, Wire};

/// How long a server gets to print its `listening on` line.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The binary a test runs: `PROMPTYARD_BIN` if set (e.g.
/// `target/release/promptyard`), else `built`, the one cargo built for the
/// test (`env!("CARGO_BIN_EXE_promptyard")`).
pub fn binary_under_test(built: &str) -> PathBuf {
    path_from_env("PROMPTYARD_BIN", || PathBuf::from(built))
}

/// The path in the variable `var`, absolute or relative to the workspace's
/// root (where `.ci/run` and the README's commands run), else `default()`.
pub fn path_from_env(var: &str, default: impl FnOnce() -> PathBuf) -> PathBuf {
    std::env::var_os(var).map_or_else(default, |path| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(path)
    })
}

/// A server process started by a test; killed on drop if still running.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    wire: Wire,
    startup_log: Vec<String>,
    stderr: mpsc::Receiver<String>,
}

impl ServerProcess {
    /// Starts `bin` with `args` and `envs` (on top of a cleared
    /// `PROMPTYARD_*` environment, in `cwd`), and waits until it logs
    /// `listening on http://ADDR`.
    ///
    /// # Panics
    /// If the process cannot start, exits, or does not listen within 30 s;
    /// the message carries what it printed.
    pub fn start(bin: &Path, cwd: &Path, args: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut child = command(bin, cwd, args, [("RUST_LOG", "info")].iter().chain(envs))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the server process");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });

        let deadline = Instant::now() + START_TIMEOUT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let addr = line
                        .split("listening on http://")
                        .nth(1)
                        .and_then(|rest| rest.trim().parse().ok());
                    seen.push(line);
                    if let Some(addr) = addr {
                        return Self {
                            child,
                            wire: Wire(addr),
                            startup_log: seen,
                            stderr: rx,
                        };
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    panic!(
                        "server did not start (exit: {status:?}); it printed:\n{}",
                        seen.join("\n")
                    );
                }
            }
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.wire.0
    }

    /// Someone without credentials, calling it over the wire.
    pub fn anonymous(&self) -> Actor<'_, Wire> {
        Actor::anonymous(&self.wire)
    }

    /// `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// `GET path` over a fresh connection.
    pub fn get(&self, path: &str) -> Response {
        http_request(self.addr(), "GET", path, &[], None)
    }

    /// What it printed on stderr up to and including its `listening on`
    /// line.
    pub fn startup_log(&self) -> &[String] {
        &self.startup_log
    }

    /// `POST path` with a JSON body (and a `session_id` cookie if given).
    pub fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
        cookie: Option<&str>,
    ) -> Response {
        let cookie = cookie.map(|c| format!("session_id={c}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(cookie) = &cookie {
            headers.push(("Cookie", cookie));
        }
        http_request(
            self.addr(),
            "POST",
            path,
            &headers,
            Some(body.to_string().as_bytes()),
        )
    }

    /// `GET path` with a `session_id` cookie.
    pub fn get_with_session(&self, path: &str, cookie: &str) -> Response {
        let cookie = format!("session_id={cookie}");
        http_request(self.addr(), "GET", path, &[("Cookie", &cookie)], None)
    }

    /// Sends a signal (`"TERM"`, `"INT"`) without waiting.
    ///
    /// # Panics
    /// If the signal cannot be sent.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Sends SIGTERM and waits for the process to exit (up to 30 s); returns
    /// its exit status and everything it printed on stderr.
    ///
    /// # Panics
    /// If the signal cannot be sent or the process does not exit in time.
    pub fn terminate(self) -> (ExitStatus, Vec<String>) {
        self.signal("TERM");
        self.wait()
    }

    /// Waits for the process to exit (up to 30 s); returns its exit status
    /// and everything it printed on stderr.
    ///
    /// # Panics
    /// If the process does not exit in time.
    pub fn wait(mut self) -> (ExitStatus, Vec<String>) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let exit = loop {
            if let Some(exit) = self.child.try_wait().expect("wait") {
                break exit;
            }
            assert!(Instant::now() < deadline, "server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut lines = std::mem::take(&mut self.startup_log);
        lines.extend(self.stderr.try_iter());
        (exit, lines)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The cookie key every process a test starts on a PostgreSQL database
/// is given (`PROMPTYARD_SECRET_KEY`, unless the test sets its own): the
/// binary requires one there, and processes sharing a database must share
/// it. On SQLite the binary keeps its key in a file beside the database.
pub const POSTGRES_SECRET_KEY: &str =
    "promptyard-test-secret-key-for-postgresql-databases-0123456789abcdef";

/// `bin` with `args` in `cwd`, stdin closed, the test's own `PROMPTYARD_*`
/// variables removed and `envs` set; with [`POSTGRES_SECRET_KEY`] too if
/// `PROMPTYARD_DATABASE_URL` names a PostgreSQL database and `envs` sets
/// no key.
fn command<'a>(
    bin: &Path,
    cwd: &Path,
    args: &[&str],
    envs: impl IntoIterator<Item = &'a (&'a str, &'a str)>,
) -> Command {
    let mut command = Command::new(bin);
    command.current_dir(cwd).args(args).stdin(Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("PROMPTYARD_") {
            command.env_remove(key);
        }
    }
    let envs: Vec<(&str, &str)> = envs.into_iter().copied().collect();
    let on_postgres = envs.iter().any(|(key, value)| {
        *key == "PROMPTYARD_DATABASE_URL"
            && promptyard_db_models::DatabaseUrl::parse(value)
                .is_ok_and(|url| url.backend() == promptyard_db_models::Backend::Postgres)
    });
    let keyed = envs.iter().any(|(key, _)| *key == "PROMPTYARD_SECRET_KEY");
    if on_postgres && !keyed {
        command.env("PROMPTYARD_SECRET_KEY", POSTGRES_SECRET_KEY);
    }
    command.envs(envs);
    command
}

/// Runs `bin` to completion (30 s at most) with `args` and `envs` in `cwd`,
/// with `PROMPTYARD_*` variables of the test's own environment removed.
///
/// # Panics
/// If it cannot start or runs for longer than 30 s.
pub fn run(bin: &Path, cwd: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut child = command(bin, cwd, args, envs)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the process");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{} {args:?} ran for more than 30 s", bin.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("collect output")
}

/// One HTTP/1.1 request over a fresh connection (`Connection: close`), for
/// tests that want to see exactly what goes over the wire.
///
/// # Panics
/// On any I/O error or an unparsable response.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send head");
    if let Some(body) = body {
        stream.write_all(body).expect("send body");
    }
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size_line = String::from_utf8_lossy(&data[..eol]);
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("0").trim(), 16)
            .expect("chunk size");
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_with_a_length_or_chunks_are_parsed() {
        let plain = parse_response(
            b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
        );
        assert_eq!(plain.status, 404);
        assert_eq!(plain.header("content-type"), Some("application/json"));
        assert_eq!(plain.json(), serde_json::json!({}));

        let chunked = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n2;x=y\r\nef\r\n0\r\n\r\n",
        );
        assert_eq!(chunked.body, b"abcdef");
    }
}
