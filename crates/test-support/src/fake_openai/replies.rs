//! How the fake answers: the default reply (an echo of the last user
//! message), and each scripted [`Reply`] written to the socket.

use std::io::Write;
use std::net::TcpStream;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use serde_json::{Value, json};

use super::{Reply, State, StreamEnd, hang};

pub(super) fn default_reply(body: &Value) -> Reply {
    let last_user = body["messages"]
        .as_array()
        .and_then(|messages| messages.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default();
    let content = format!("fake: {last_user}");
    let prompt = body["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .filter_map(|m| m["content"].as_str())
                .map(|c| c.split_whitespace().count())
                .sum::<usize>()
        })
        .unwrap_or(0);
    let usage = Some((
        u32::try_from(prompt).unwrap_or(u32::MAX),
        u32::try_from(content.split_whitespace().count()).unwrap_or(u32::MAX),
    ));
    if body["stream"] == true {
        Reply::Stream {
            deltas: content.split_inclusive(' ').map(str::to_owned).collect(),
            usage,
            end: StreamEnd::Done,
        }
    } else {
        Reply::Complete { content, usage }
    }
}

fn usage_json(usage: Option<(u32, u32)>) -> Value {
    usage.map_or(
        Value::Null,
        |(p, c)| json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}),
    )
}

fn chunk(model: &Value, delta: Value, finish: Value) -> String {
    json!({
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_764_000_000,
        "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    })
    .to_string()
}

pub(super) fn respond(
    mut stream: TcpStream,
    reply: &Reply,
    request: &Value,
    state: &Mutex<State>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    let model = &request["model"];
    match reply {
        Reply::Hang => hang(&mut stream, state, stop),
        Reply::Trickle {
            delta,
            every,
            count,
        } => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            )?;
            for _ in 0..*count {
                let data = format!(
                    "data: {}\n\n",
                    chunk(model, json!({"content": delta}), Value::Null)
                );
                // A write error means the client left: stop.
                write!(stream, "{:x}\r\n{data}\r\n", data.len())?;
                stream.flush()?;
                std::thread::sleep(*every);
            }
            let done = "data: [DONE]\n\n";
            write!(stream, "{:x}\r\n{done}\r\n0\r\n\r\n", done.len())?;
            stream.flush()
        }
        Reply::LongLine { bytes } => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\ndata: "
            )?;
            let block = vec![b'x'; 64 * 1024];
            let mut left = *bytes;
            while left > 0 {
                let n = left.min(block.len());
                stream.write_all(&block[..n])?;
                left -= n;
            }
            stream.flush()?;
            stream.shutdown(std::net::Shutdown::Both)
        }
        Reply::Status(status, body) => write_whole(&mut stream, *status, body),
        Reply::Raw(body) => write_whole(&mut stream, 200, body),
        Reply::Complete { content, usage } => {
            let mut body = json!({
                "id": "chatcmpl-fake", "object": "chat.completion", "created": 1_764_000_000,
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            });
            if usage.is_some() {
                body["usage"] = usage_json(*usage);
            }
            write_whole(&mut stream, 200, &body.to_string())
        }
        Reply::Stream { deltas, usage, end } => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            )?;
            let mut send = |event: &str| -> std::io::Result<()> {
                let data = format!("data: {event}\n\n");
                write!(stream, "{:x}\r\n{data}\r\n", data.len())?;
                stream.flush()
            };
            send(&chunk(
                model,
                json!({"role": "assistant", "content": ""}),
                Value::Null,
            ))?;
            for delta in deltas {
                send(&chunk(model, json!({"content": delta}), Value::Null))?;
            }
            match end {
                StreamEnd::Cut => {
                    // Half a chunk, then the connection goes away.
                    write!(stream, "40\r\ndata: {{\"choi")?;
                    stream.flush()?;
                    return stream.shutdown(std::net::Shutdown::Both);
                }
                StreamEnd::Hang => return hang(&mut stream, state, stop),
                StreamEnd::Error(message) => {
                    send(
                        &json!({"error": {"message": message, "type": "server_error"}}).to_string(),
                    )?;
                }
                StreamEnd::Done | StreamEnd::NoDone => {
                    send(&chunk(model, json!({}), json!("stop")))?;
                    if usage.is_some() {
                        send(&json!({
                            "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_764_000_000,
                            "model": model, "choices": [], "usage": usage_json(*usage),
                        }).to_string())?;
                    }
                    if *end == StreamEnd::Done {
                        send("[DONE]")?;
                    }
                }
            }
            write!(stream, "0\r\n\r\n")?;
            stream.flush()
        }
    }
}

fn write_whole(stream: &mut TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
