//! [`ApiJson`]: the JSON body extractor, with the contract's error answers:
//!
//! | body | answer |
//! |---|---|
//! | over the body type's [`FromJsonObject::LIMIT`] (64 KiB unless it says otherwise) | 413 `payload_too_large` |
//! | missing or empty | 400 `malformed_body` |
//! | not sent as JSON (`Content-Type`) | 415 `unsupported_media_type` |
//! | not JSON, or JSON but not an object | 400 `malformed_body` |
//! | an object with missing or mistyped fields, or values that break a rule | 422 `validation_failed`, each field named |
//!
//! Request types implement [`FromJsonObject`] with the [`Fields`] helper,
//! which collects every bad field instead of stopping at the first.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpRequest};
use promptyard_services::FieldError;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The default body limit: 64 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// A request body type built from a JSON object.
pub trait FromJsonObject: Sized {
    /// The largest body of this type, in bytes.
    const LIMIT: usize = DEFAULT_BODY_LIMIT;

    /// Reads the fields; returns `None` if any is bad (the errors are in
    /// `fields`).
    fn from_json(fields: &mut Fields<'_>) -> Option<Self>;
}

/// A JSON object body, parsed into `T`.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T: FromJsonObject + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = is_json(req);
        let declared_too_large = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|length| length > T::LIMIT);
        let payload = web::Payload::from_request(req, payload);
        Box::pin(async move {
            if declared_too_large {
                return Err(ApiError::PayloadTooLarge);
            }
            let payload = payload
                .await
                .map_err(|_| ApiError::MalformedBody("the body could not be read".to_owned()))?;
            let body: Bytes = payload
                .to_bytes_limited(T::LIMIT)
                .await
                .map_err(|_| ApiError::PayloadTooLarge)?
                .map_err(|_| ApiError::MalformedBody("the body could not be read".to_owned()))?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Err(ApiError::MalformedBody(
                    "a JSON object body is required".to_owned(),
                ));
            }
            if !is_json {
                return Err(ApiError::UnsupportedMediaType);
            }
            let value: Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::MalformedBody(format!("the body is not valid JSON: {e}")))?;
            let Value::Object(map) = value else {
                return Err(ApiError::MalformedBody(
                    "the body must be a JSON object".to_owned(),
                ));
            };
            let mut fields = Fields::new(&map);
            let parsed = T::from_json(&mut fields);
            fields.finish(parsed).map(ApiJson)
        })
    }
}

/// `application/json`, or any `+json` type, with any parameters.
fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|essence| {
            let essence = essence.trim().to_ascii_lowercase();
            essence == "application/json"
                || (essence.starts_with("application/") && essence.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Reads the fields of a JSON object, collecting an error per bad field.
#[derive(Debug)]
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    /// Fields of `map`.
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Self {
            map,
            errors: Vec::new(),
        }
    }

    fn error(&mut self, field: &str, message: &str) {
        self.errors.push(FieldError::new(field, message));
    }

    /// The whole object.
    pub fn object(&self) -> &'a Map<String, Value> {
        self.map
    }

    /// Records an error on `field` (a rule the type cannot express).
    pub fn reject(&mut self, field: &str, message: &str) {
        self.error(field, message);
    }

    /// A string that must be present.
    pub fn required_str(&mut self, name: &str) -> Option<&'a str> {
        match self.map.get(name) {
            None | Some(Value::Null) => {
                self.error(name, "is required");
                None
            }
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.error(name, "must be a string");
                None
            }
        }
    }

    /// A string that may be absent or null: `Some(None)` then; `None` if it
    /// is there but not a string.
    pub fn optional_str(&mut self, name: &str) -> Option<Option<&'a str>> {
        match self.map.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(s)),
            Some(_) => {
                self.error(name, "must be a string");
                None
            }
        }
    }

    /// A string that must be present and pass `parse`, whose message
    /// names what is wrong with it.
    pub fn required_str_with<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&'a str) -> Result<T, String>,
    ) -> Option<T> {
        let text = self.required_str(name)?;
        self.checked(name, parse(text))
    }

    /// A string that may be absent or null, and must pass `parse` if not.
    pub fn optional_str_with<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&'a str) -> Result<T, String>,
    ) -> Option<Option<T>> {
        match self.optional_str(name)? {
            None => Some(None),
            Some(text) => self.checked(name, parse(text)).map(Some),
        }
    }

    /// A number that may be absent or null, and must pass `parse` if not
    /// (a JSON number arrives as `f64`; whole-number rules are the
    /// parser's).
    pub fn optional_number_with<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(f64) -> Result<T, String>,
    ) -> Option<Option<T>> {
        match self.map.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(v) => self.checked(name, parse(v)).map(Some),
                None => {
                    self.error(name, "must be a number");
                    None
                }
            },
            Some(_) => {
                self.error(name, "must be a number");
                None
            }
        }
    }

    fn checked<T>(&mut self, name: &str, parsed: Result<T, String>) -> Option<T> {
        parsed.map_err(|message| self.error(name, &message)).ok()
    }

    /// A boolean that may be absent or null.
    pub fn optional_bool(&mut self, name: &str) -> Option<Option<bool>> {
        match self.map.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(Value::Bool(b)) => Some(Some(*b)),
            Some(_) => {
                self.error(name, "must be true or false");
                None
            }
        }
    }

    /// Whether a field was bad.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Takes the errors of `inner`, the fields of the object under
    /// `prefix`, each named `prefix.field`.
    pub fn absorb(&mut self, prefix: &str, inner: Fields<'_>) {
        self.errors.extend(
            inner
                .errors
                .into_iter()
                .map(|e| FieldError::new(format!("{prefix}.{}", e.field), e.message)),
        );
    }

    /// Takes errors already named in full.
    pub fn extend(&mut self, errors: Vec<FieldError>) {
        self.errors.extend(errors);
    }

    /// The parsed value if no field was bad, else 422 naming every bad one.
    pub fn finish<T>(self, parsed: Option<T>) -> Result<T, ApiError> {
        match parsed {
            Some(value) if self.errors.is_empty() => Ok(value),
            _ => Err(ApiError::Validation(self.errors)),
        }
    }
}

#[cfg(test)]
mod tests;
