//! The providers file (`PROMPTYARD_PROVIDERS_FILE`): TOML, one
//! `[[providers]]` table per OpenAI-compatible endpoint.
//!
//! ```toml
//! [[providers]]
//! name = "local"                        # shown as "provider" in /models
//! kind = "openai"                       # any OpenAI-compatible endpoint
//! base_url = "http://127.0.0.1:11434/v1"
//! api_key_env = "LOCAL_LLM_KEY"         # env var holding the key (optional)
//! models = ["llama3.2:1b", "qwen2.5:0.5b"]
//! timeout_secs = 60                     # optional, default 60; may be fractional
//! deadline_secs = 600                   # optional, default 600: a whole stream's limit
//! context_tokens = 8192                 # optional, default 8192: each model's context window
//!
//! [[providers]]
//! name = "cloud"
//! kind = "openai"
//! base_url = "https://api.example.com/v1"
//! # a model is an id, or a table with its own context window
//! models = ["small-1", { id = "long-1", context_tokens = 128000 }]
//! ```
//!
//! `context_tokens` is how many tokens a model takes in one call: system
//! prompt, history, new message and answer. The playground sends a model
//! the newest history that fits (see
//! [`PlaygroundService`](crate::PlaygroundService)); 0 sends none.
//!
//! Anything wrong — invalid TOML, an unknown field or `kind`, a duplicate
//! provider name or model id (`echo-1` included), an empty model list, a
//! base URL that is not http(s), a key variable that is not set, a timeout
//! that is not positive, a deadline shorter than the timeout, a context
//! window outside 0 to 10,000,000 — is a
//! [`ProvidersFileError`] naming the file and the problem in one line.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::{
    DEFAULT_CONTEXT_TOKENS, DEFAULT_DEADLINE, ECHO_PROVIDER, MAX_CONTEXT_TOKENS, ModelSpec,
    OpenAiProvider, ProviderRegistry,
};

/// A providers file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("providers file {path}: {problem}")]
pub struct ProvidersFileError {
    pub path: String,
    pub problem: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    providers: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    kind: String,
    base_url: String,
    api_key_env: Option<String>,
    models: Vec<ModelEntry>,
    timeout_secs: Option<f64>,
    deadline_secs: Option<f64>,
    description: Option<String>,
    context_tokens: Option<i64>,
}

/// One of `models`: an id, or `{ id = "...", context_tokens = N }`.
#[derive(Debug)]
struct ModelEntry {
    id: String,
    context_tokens: Option<i64>,
}

impl<'de> Deserialize<'de> for ModelEntry {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            id: String,
            context_tokens: Option<i64>,
        }

        struct Entry;

        impl<'de> serde::de::Visitor<'de> for Entry {
            type Value = ModelEntry;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a model id, or a table like { id = \"m\", context_tokens = 8192 }")
            }

            fn visit_str<E: serde::de::Error>(self, id: &str) -> Result<ModelEntry, E> {
                Ok(ModelEntry {
                    id: id.to_owned(),
                    context_tokens: None,
                })
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<ModelEntry, A::Error> {
                let table = Table::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(ModelEntry {
                    id: table.id,
                    context_tokens: table.context_tokens,
                })
            }
        }

        deserializer.deserialize_any(Entry)
    }
}

/// Default provider timeout.
const DEFAULT_TIMEOUT_SECS: f64 = 60.0;

/// Reads and checks the providers file at `path`, looking up key variables
/// in the process environment.
pub fn load_providers_file(path: &Path) -> Result<ProviderRegistry, ProvidersFileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ProvidersFileError {
        path: shown.clone(),
        problem: format!("cannot be read: {e}"),
    })?;
    parse_providers_file(&text, &shown, |name| std::env::var(name).ok())
}

/// Checks providers file `text` (named `path` in errors), looking up key
/// variables with `env`; returns the registry (echo included).
pub fn parse_providers_file(
    text: &str,
    path: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<ProviderRegistry, ProvidersFileError> {
    let problem = |problem: String| ProvidersFileError {
        path: path.to_owned(),
        problem,
    };
    let file: File = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
        let message = e.message().lines().next().unwrap_or("invalid").to_owned();
        problem(match line {
            Some(line) => format!("invalid TOML at line {line}: {message}"),
            None => format!("invalid TOML: {message}"),
        })
    })?;
    let mut registry = ProviderRegistry::with_echo();
    let mut names: HashSet<String> = HashSet::from([ECHO_PROVIDER.to_owned()]);
    for (index, entry) in file.providers.into_iter().enumerate() {
        let which = format!("provider #{} ({:?})", index + 1, entry.name);
        if entry.name.trim().is_empty() {
            return Err(problem(format!(
                "provider #{} has an empty name",
                index + 1
            )));
        }
        if !names.insert(entry.name.clone()) {
            return Err(problem(format!(
                "{which}: the name is used twice (\"echo\" is built in)"
            )));
        }
        if entry.kind != "openai" {
            return Err(problem(format!(
                "{which}: unknown kind {:?} (the only kind is \"openai\", for any OpenAI-compatible endpoint)",
                entry.kind
            )));
        }
        let url_ok = reqwest::Url::parse(&entry.base_url)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some());
        if !url_ok {
            return Err(problem(format!(
                "{which}: base_url {:?} is not an http(s) URL",
                entry.base_url
            )));
        }
        if entry.models.is_empty() {
            return Err(problem(format!("{which}: lists no models")));
        }
        if let Some(model) = entry.models.iter().find(|m| m.id.trim().is_empty()) {
            return Err(problem(format!(
                "{which}: has an empty model id {:?}",
                model.id
            )));
        }
        let window = |given: Option<i64>, default: u32, whose: &str| {
            match given {
            None => Ok(default),
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| *n <= MAX_CONTEXT_TOKENS)
                .ok_or_else(|| {
                    problem(format!(
                        "{which}: {whose}context_tokens must be from 0 to {MAX_CONTEXT_TOKENS} (it is {n})"
                    ))
                }),
        }
        };
        let provider_window = window(entry.context_tokens, DEFAULT_CONTEXT_TOKENS, "")?;
        let models = entry
            .models
            .iter()
            .map(|m| {
                let whose = format!("model {:?}: ", m.id);
                window(m.context_tokens, provider_window, &whose)
                    .map(|tokens| ModelSpec::new(m.id.clone(), tokens))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let timeout = entry.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
        if !(timeout.is_finite() && timeout > 0.0 && timeout <= 3600.0) {
            return Err(problem(format!(
                "{which}: timeout_secs must be more than 0 and at most 3600"
            )));
        }
        let deadline = entry
            .deadline_secs
            .unwrap_or_else(|| DEFAULT_DEADLINE.as_secs_f64().max(timeout));
        if !(deadline.is_finite() && deadline >= timeout && deadline <= 86_400.0) {
            return Err(problem(format!(
                "{which}: deadline_secs must be at least timeout_secs ({timeout}) and at most 86400"
            )));
        }
        let api_key = match &entry.api_key_env {
            Some(variable) => Some(env(variable).filter(|v| !v.is_empty()).ok_or_else(|| {
                problem(format!("{which}: the key variable {variable} is not set"))
            })?),
            None => None,
        };
        let provider = OpenAiProvider::new(
            &entry.name,
            &entry.base_url,
            api_key,
            Duration::from_secs_f64(timeout),
        )
        .map_err(|e| problem(format!("{which}: {e}")))?
        .with_deadline(Duration::from_secs_f64(deadline));
        let description = entry
            .description
            // Every signed-in user sees it: never the base URL, which may
            // name internal hosts or carry credentials.
            .unwrap_or_else(|| format!("{} (OpenAI-compatible)", entry.name));
        registry
            .add(Arc::new(provider), &models, &description)
            .map_err(|model| {
                problem(format!(
                    "{which}: model id {model:?} is already served (each model id once, \"echo-1\" included)"
                ))
            })?;
    }
    Ok(registry)
}

#[cfg(test)]
mod tests;
