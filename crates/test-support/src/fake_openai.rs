//! [`FakeOpenAi`]: a real, local, OpenAI-compatible HTTP server with
//! scripted answers — chat completions, SSE streams (ending with
//! `data: [DONE]`, cut in the middle, or with an error event), error
//! statuses, malformed bodies, and hangs — that records every request it
//! receives. Providers are tested against it over real TCP, never against
//! a mock object.
//!
//! With nothing scripted it answers like a model: `fake: <last user
//! message>`, streamed word by word when the request asks to stream.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

mod replies;

use self::replies::{default_reply, respond};

/// How a scripted stream ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEnd {
    /// `data: [DONE]`, then the end of the body.
    Done,
    /// The connection closes in the middle of a chunk.
    Cut,
    /// The body ends properly but without `data: [DONE]`.
    NoDone,
    /// `data: {"error": {...}}`, then the end of the body.
    Error(String),
    /// Nothing more is sent, and the connection stays open until the
    /// client closes it (counted in [`FakeOpenAi::disconnects`]).
    Hang,
}

/// One scripted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A `chat.completion` with this content and usage (none: no `usage`).
    Complete {
        content: String,
        usage: Option<(u32, u32)>,
    },
    /// `chat.completion.chunk` events, one per delta, then `end`; the usage
    /// chunk (if any) comes just before `[DONE]`.
    Stream {
        deltas: Vec<String>,
        usage: Option<(u32, u32)>,
        end: StreamEnd,
    },
    /// This status with this JSON body.
    Status(u16, String),
    /// 200 with this body as is (to send what is not a completion).
    Raw(String),
    /// Read the request, then never answer, until the client closes the
    /// connection (counted in [`FakeOpenAi::disconnects`]).
    Hang,
    /// A slow, steady stream: `count` deltas of `delta`, one every
    /// `every`, then `[DONE]` (it stops early if the client goes away).
    Trickle {
        delta: String,
        every: Duration,
        count: usize,
    },
    /// A stream whose first `data:` line is `bytes` long and never ends (no
    /// newline), then the connection closes.
    LongLine { bytes: usize },
}

/// A request the server received.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Recorded {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    requests: Vec<Recorded>,
    disconnects: usize,
}

/// See the module docs. Stops when dropped.
pub struct FakeOpenAi {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeOpenAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeOpenAi")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FakeOpenAi {
    /// Listens on `127.0.0.1:<free port>`.
    ///
    /// # Panics
    /// If it cannot bind.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake server");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
                    std::thread::spawn(move || {
                        let _ = serve(stream, &state, &stop);
                    });
                }
            })
        };
        Self {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>/v1`, the base URL a provider is given.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Writes `dir/providers.toml`, for `PROMPTYARD_PROVIDERS_FILE`: one
    /// provider, `local`, serving model `fake-1` from this server, with
    /// this timeout and, if given, its key read from `api_key_env`. Its
    /// path.
    ///
    /// # Panics
    /// If the file cannot be written, or its path is not UTF-8.
    pub fn providers_file(
        &self,
        dir: &std::path::Path,
        timeout_secs: u64,
        api_key_env: Option<&str>,
    ) -> String {
        let path = dir.join("providers.toml");
        let key = api_key_env.map_or_else(String::new, |var| format!("api_key_env = \"{var}\"\n"));
        std::fs::write(
            &path,
            format!(
                "[[providers]]\nname = \"local\"\nkind = \"openai\"\nbase_url = \"{}\"\n{key}models = [\"fake-1\"]\ntimeout_secs = {timeout_secs}\n",
                self.base_url()
            ),
        )
        .expect("providers file");
        path.to_str().expect("utf-8").to_owned()
    }

    /// Queues a reply for the next request (replies are used in order).
    pub fn push(&self, reply: Reply) -> &Self {
        lock(&self.state).script.push_back(reply);
        self
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state).requests.clone()
    }

    /// How many hanging answers ([`Reply::Hang`], [`StreamEnd::Hang`]) the
    /// client has walked away from by closing the connection.
    pub fn disconnects(&self) -> usize {
        lock(&self.state).disconnects
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sends nothing until the client closes the connection (then counts the
/// disconnect) or the server stops.
fn hang(stream: &mut TcpStream, state: &Mutex<State>, stop: &AtomicBool) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_millis(10)))?;
    let mut byte = [0u8; 1];
    while !stop.load(Ordering::SeqCst) {
        match stream.read(&mut byte) {
            Ok(0) => {
                lock(state).disconnects += 1;
                return Ok(());
            }
            // A client sends nothing more after its request; ignore it.
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => {
                lock(state).disconnects += 1;
                return Err(e);
            }
        }
    }
    Ok(())
}

fn serve(stream: TcpStream, state: &Mutex<State>, stop: &AtomicBool) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    if method.is_empty() {
        return Ok(());
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let reply = {
        let mut state = lock(state);
        state.requests.push(Recorded {
            method,
            path,
            headers,
            body: body.clone(),
        });
        state.script.pop_front()
    }
    .unwrap_or_else(|| default_reply(&body));
    respond(stream, &reply, &body, state, stop)
}
