//! Server-sent event answers, shared by the playground and the `/v1`
//! gateway.
//!
//! While a provider is silent, a `: keep-alive` comment goes out every
//! [`HttpSettings::sse_keep_alive`](crate::HttpSettings::sse_keep_alive).
//! SSE clients ignore comments; the server needs the write: a client that
//! has gone away is only noticed when writing to it fails, and that drop
//! is what cancels the upstream request and stores nothing.

use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt, stream};

/// The comment sent while nothing else is.
pub const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// `200 text/event-stream` carrying `frames`, with a keep-alive comment
/// after every `keep_alive` without a frame.
pub fn response<S>(frames: S, keep_alive: Duration) -> HttpResponse
where
    S: Stream<Item = Bytes> + 'static,
{
    let body = stream::unfold(Box::pin(frames), move |mut frames| async move {
        let frame = tokio::select! {
            frame = frames.next() => frame?,
            () = tokio::time::sleep(keep_alive) => Bytes::from_static(KEEP_ALIVE),
        };
        Some((Ok::<_, actix_web::Error>(frame), frames))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(body)
}

/// One `data:` event (a JSON value, or any one-line text).
pub fn data(value: &impl std::fmt::Display) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

/// One `data:` event carrying `value` as JSON (one line: serde_json
/// escapes newlines inside strings).
pub fn json(value: &impl serde::Serialize) -> Bytes {
    match serde_json::to_string(value) {
        Ok(text) => data(&text),
        // A view that cannot be JSON is a bug; say so in the stream.
        Err(_) => data(
            &r#"{"error": {"message": "unserialisable event", "type": "server_error", "param": null, "code": null}}"#,
        ),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::MessageBody;

    use super::*;

    async fn frames_of(response: HttpResponse) -> Vec<Bytes> {
        let mut body = std::pin::pin!(response.into_body());
        let mut frames = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await {
            frames.push(frame.expect("frame"));
        }
        frames
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_stream_gets_keep_alive_comments_between_its_frames() {
        let frames = stream::iter([data(&1)]).chain(stream::once(async {
            tokio::time::sleep(Duration::from_secs(35)).await;
            data(&2)
        }));

        let response = response(frames, Duration::from_secs(15));

        assert_eq!(
            response.headers().get("content-type").expect("type"),
            "text/event-stream"
        );
        let keep_alive = Bytes::from_static(KEEP_ALIVE);
        assert_eq!(
            frames_of(response).await,
            [data(&1), keep_alive.clone(), keep_alive, data(&2)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_stream_gets_none() {
        let frames = stream::iter([data(&1), data(&2)]);
        assert_eq!(
            frames_of(response(frames, Duration::from_millis(1))).await,
            [data(&1), data(&2)]
        );
    }
}
