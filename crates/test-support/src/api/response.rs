//! A whole [`Response`] and what tests read from it: headers, cookies,
//! JSON, server-sent events, and the contract's error shapes.

use serde_json::{Value, json};

/// A whole response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A response as a transport received it: header names are lower-cased
    /// and values read as (lossy) UTF-8.
    pub fn received<'h>(
        status: u16,
        headers: impl IntoIterator<Item = (&'h str, &'h [u8])>,
        body: Vec<u8>,
    ) -> Self {
        let headers = headers
            .into_iter()
            .map(|(name, value)| {
                (
                    name.to_ascii_lowercase(),
                    String::from_utf8_lossy(value).into_owned(),
                )
            })
            .collect();
        Self {
            status,
            headers,
            body,
        }
    }

    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of the cookie `name` this response sets, if any.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.set_cookies()
            .into_iter()
            .find_map(|v| v.strip_prefix(&prefix))
            .map(|rest| rest.split(';').next().unwrap_or_default().to_owned())
    }

    /// The body parsed as JSON, or `Null` if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    /// The status and the JSON body.
    pub fn parts(&self) -> (u16, Value) {
        (self.status, self.json())
    }

    /// Asserts this status; the body parsed as JSON.
    ///
    /// # Panics
    /// If the status is another (the message shows the body).
    pub fn expect_json(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.text());
        self.json()
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The events of a `text/event-stream` body.
    pub fn sse(&self) -> Vec<SseFrame> {
        sse_frames(&self.body)
    }

    /// A streamed playground answer: the text of its `delta` events, and
    /// its final event.
    ///
    /// # Panics
    /// If it has no event, or an event is not JSON, or a delta has no text.
    pub fn deltas_and_done(&self) -> (String, Value) {
        let frames = self.sse();
        let (done, deltas) = frames.split_last().expect("events");
        let text = deltas
            .iter()
            .map(|(_, data)| {
                serde_json::from_str::<Value>(data).expect("json")["delta"]
                    .as_str()
                    .expect("delta")
                    .to_owned()
            })
            .collect();
        (text, serde_json::from_str(&done.1).expect("done json"))
    }

    /// Asserts the contract's problem+json answer with this status and
    /// code; its body.
    ///
    /// # Panics
    /// If it is not that answer.
    pub fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text()
        );
        let body = self.json();
        assert_eq!(body["type"], "about:blank");
        assert_eq!(body["status"], status);
        assert_eq!(body["code"], code, "{body}");
        assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
        body
    }

    /// Asserts an error in OpenAI's shape (`/v1`) with this status, type
    /// and code; its body.
    ///
    /// # Panics
    /// If it is not that answer.
    pub fn openai_error(&self, status: u16, kind: &str, code: Option<&str>) -> Value {
        assert_eq!(self.status, status, "{}", self.text());
        let body = self.json();
        let error = &body["error"];
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        assert_eq!(error["type"], kind, "{body}");
        assert_eq!(
            error["code"],
            code.map_or(Value::Null, |c| json!(c)),
            "{body}"
        );
        assert!(
            error.as_object().is_some_and(|e| e.contains_key("param")),
            "{body}"
        );
        body
    }
}

/// The `field` of each error a 422 problem lists, in order.
pub fn error_fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default()
}

/// The field names of a JSON object, in order.
///
/// # Panics
/// If it is not an object.
pub fn keys(object: &Value) -> Vec<&str> {
    object
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect()
}

/// The string `field` of each item of a JSON array, in order.
///
/// # Panics
/// If it is not an array, or an item has no such string.
pub fn each<'v>(array: &'v Value, field: &str) -> Vec<&'v str> {
    array
        .as_array()
        .expect("array")
        .iter()
        .map(|item| item[field].as_str().expect(field))
        .collect()
}

/// One server-sent event: its `event:` name, if any, and its `data:`.
pub type SseFrame = (Option<String>, String);

/// The events of a `text/event-stream` body (comments are skipped).
pub fn sse_frames(body: &[u8]) -> Vec<SseFrame> {
    String::from_utf8_lossy(body)
        .split("\n\n")
        .filter(|frame| !frame.trim().is_empty())
        .filter_map(|frame| {
            let mut event = None;
            let mut data: Option<String> = None;
            for line in frame.lines() {
                if let Some(name) = line.strip_prefix("event: ") {
                    event = Some(name.to_owned());
                } else if let Some(payload) = line.strip_prefix("data: ") {
                    data.get_or_insert_with(String::new).push_str(payload);
                }
            }
            data.map(|data| (event, data))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::SESSION_COOKIE;

    #[test]
    fn sse_frames_keep_event_names_and_skip_comments() {
        let body = b": keep-alive\n\ndata: {\"delta\": \"a\"}\n\nevent: error\ndata: {}\n\ndata: [DONE]\n\n";
        assert_eq!(
            sse_frames(body),
            [
                (None, "{\"delta\": \"a\"}".to_owned()),
                (Some("error".to_owned()), "{}".to_owned()),
                (None, "[DONE]".to_owned()),
            ]
        );
    }

    #[test]
    fn a_response_reads_cookies_headers_and_json() {
        let response = Response {
            status: 200,
            headers: vec![
                ("set-cookie".into(), "other=1; Path=/".into()),
                ("set-cookie".into(), "session_id=abc; HttpOnly".into()),
                ("content-type".into(), "application/json".into()),
            ],
            body: b"{\"ok\": true}".to_vec(),
        };
        assert_eq!(response.cookie(SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(response.header("Content-Type"), Some("application/json"));
        assert_eq!(response.parts(), (200, json!({"ok": true})));
        assert_eq!(
            Response {
                body: b"not json".to_vec(),
                ..response
            }
            .json(),
            Value::Null
        );
    }
}
