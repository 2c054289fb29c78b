//! What the playground takes, parsed: each type's constructor owns its
//! rule and words its message from the rule's constant, so the rule is
//! stated once. The HTTP layer (and the gateway) build these from request
//! bodies, collecting every field's error; a service method that takes
//! one cannot be handed a value that breaks its rule.
//!
//! ```
//! use promptyard_services::playground::{MessageContent, Sampling, Temperature};
//!
//! assert!(MessageContent::parse("hello").is_ok());
//! assert_eq!(MessageContent::parse("").unwrap_err(), "must be from 1 to 100000 characters");
//! assert_eq!(Temperature::parse(2.5).unwrap_err(), "must be from 0 to 2");
//! let sampling = Sampling::default();
//! assert!(sampling.temperature.is_none() && sampling.max_tokens.is_none());
//! ```

use promptyard_repositories::ConversationId;

/// Longest message content, in characters.
pub const CONTENT_MAX_CHARS: usize = 100_000;
/// Longest conversation title, in characters.
pub const TITLE_MAX_CHARS: usize = 200;
/// Longest system prompt, in characters.
pub const SYSTEM_PROMPT_MAX_CHARS: usize = 100_000;
/// Page size bounds and default of conversation lists.
pub const PAGE_LIMIT_MAX: i64 = 100;
pub const PAGE_LIMIT_DEFAULT: i64 = 20;
/// Bounds of `temperature` and `max_tokens`.
pub const TEMPERATURE_MAX: f64 = 2.0;
pub const MAX_TOKENS_MAX: u32 = 32_768;

/// A rule broken: the message a 422 shows for the field.
pub type Broken = String;

fn at_most(text: &str, max: usize) -> Result<(), Broken> {
    if text.chars().count() > max {
        Err(format!("must be at most {max} characters"))
    } else {
        Ok(())
    }
}

/// The content of a message: 1 to [`CONTENT_MAX_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageContent(String);

impl MessageContent {
    /// `text`, if it is 1 to [`CONTENT_MAX_CHARS`] characters.
    pub fn parse(text: impl Into<String>) -> Result<Self, Broken> {
        let text = text.into();
        let chars = text.chars().count();
        if chars == 0 || chars > CONTENT_MAX_CHARS {
            return Err(format!("must be from 1 to {CONTENT_MAX_CHARS} characters"));
        }
        Ok(Self(text))
    }

    /// The length rule alone, for a message of a history (the gateway's),
    /// which may be empty.
    pub fn check_history(text: &str) -> Result<(), Broken> {
        at_most(text, CONTENT_MAX_CHARS)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A sampling temperature: 0 to [`TEMPERATURE_MAX`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Temperature(f64);

impl Temperature {
    /// `value`, if it is from 0 to [`TEMPERATURE_MAX`].
    pub fn parse(value: f64) -> Result<Self, Broken> {
        if (0.0..=TEMPERATURE_MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(format!("must be from 0 to {TEMPERATURE_MAX}"))
        }
    }

    /// The number.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// The most tokens an answer may have: a whole number from 1 to
/// [`MAX_TOKENS_MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxTokens(u32);

impl MaxTokens {
    /// `value`, if it is a whole number from 1 to [`MAX_TOKENS_MAX`] (a
    /// JSON number arrives as `f64`).
    pub fn parse(value: f64) -> Result<Self, Broken> {
        if value.fract() == 0.0 && (1.0..=f64::from(MAX_TOKENS_MAX)).contains(&value) {
            // In range, whole: the cast is exact.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Ok(Self(value as u32))
        } else {
            Err(format!("must be a whole number from 1 to {MAX_TOKENS_MAX}"))
        }
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// Optional sampling settings of a message.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sampling {
    pub temperature: Option<Temperature>,
    pub max_tokens: Option<MaxTokens>,
}

/// Text of at most `MAX` characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtMost<const MAX: usize>(String);

impl<const MAX: usize> AtMost<MAX> {
    /// `text`, if it is at most `MAX` characters.
    pub fn parse(text: impl Into<String>) -> Result<Self, Broken> {
        let text = text.into();
        at_most(&text, MAX).map(|()| Self(text))
    }

    /// The text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A conversation's title: at most [`TITLE_MAX_CHARS`] characters.
pub type Title = AtMost<TITLE_MAX_CHARS>;

/// A conversation's system prompt: at most [`SYSTEM_PROMPT_MAX_CHARS`]
/// characters.
pub type SystemPrompt = AtMost<SYSTEM_PROMPT_MAX_CHARS>;

/// A conversation to start. Whether `model` is served is the service's
/// to say (it knows the providers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConversation {
    pub model: String,
    pub title: Option<Title>,
    pub system_prompt: Option<SystemPrompt>,
}

/// A message to send.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub content: MessageContent,
    pub sampling: Sampling,
}

/// How many conversations a page holds: 1 to [`PAGE_LIMIT_MAX`], by
/// default [`PAGE_LIMIT_DEFAULT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(i64);

impl Default for PageLimit {
    fn default() -> Self {
        Self(PAGE_LIMIT_DEFAULT)
    }
}

impl PageLimit {
    /// The limit written as `text` (a query parameter), if it is a whole
    /// number from 1 to [`PAGE_LIMIT_MAX`].
    pub fn parse(text: &str) -> Result<Self, Broken> {
        match text.trim().parse::<i64>() {
            Ok(n) if (1..=PAGE_LIMIT_MAX).contains(&n) => Ok(Self(n)),
            _ => Err(format!("must be a whole number from 1 to {PAGE_LIMIT_MAX}")),
        }
    }

    /// The number.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// Which page of conversations: `limit` of them, strictly older than the
/// conversation `before` (which must be one of the caller's).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageRequest {
    pub limit: PageLimit,
    pub before: Option<ConversationId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_one_to_the_maximum_characters_counted_as_chars() {
        assert!(MessageContent::parse("é".repeat(CONTENT_MAX_CHARS)).is_ok());
        for bad in [String::new(), "a".repeat(CONTENT_MAX_CHARS + 1)] {
            assert_eq!(
                MessageContent::parse(bad).unwrap_err(),
                "must be from 1 to 100000 characters"
            );
        }
        assert!(MessageContent::check_history("").is_ok());
        assert_eq!(
            MessageContent::check_history(&"a".repeat(CONTENT_MAX_CHARS + 1)).unwrap_err(),
            "must be at most 100000 characters"
        );
        assert_eq!(MessageContent::parse("hi").expect("ok").as_str(), "hi");
    }

    #[test]
    fn sampling_values_keep_their_bounds() {
        assert_eq!(Temperature::parse(0.0).expect("0").get(), 0.0);
        assert_eq!(Temperature::parse(2.0).expect("2").get(), 2.0);
        for bad in [-0.1, 2.01, f64::NAN] {
            assert_eq!(Temperature::parse(bad).unwrap_err(), "must be from 0 to 2");
        }
        assert_eq!(MaxTokens::parse(1.0).expect("1").get(), 1);
        assert_eq!(MaxTokens::parse(32_768.0).expect("max").get(), 32_768);
        for bad in [0.0, 32_769.0, 1.5, -3.0, 1e20] {
            assert_eq!(
                MaxTokens::parse(bad).unwrap_err(),
                "must be a whole number from 1 to 32768"
            );
        }
    }

    #[test]
    fn titles_prompts_and_page_limits_keep_theirs() {
        assert!(Title::parse("t".repeat(TITLE_MAX_CHARS)).is_ok());
        assert_eq!(
            Title::parse("t".repeat(TITLE_MAX_CHARS + 1)).unwrap_err(),
            "must be at most 200 characters"
        );
        assert!(SystemPrompt::parse("p".repeat(SYSTEM_PROMPT_MAX_CHARS)).is_ok());
        assert!(SystemPrompt::parse("p".repeat(SYSTEM_PROMPT_MAX_CHARS + 1)).is_err());
        assert_eq!(PageLimit::default().get(), 20);
        assert_eq!(PageLimit::parse(" 100 ").expect("100").get(), 100);
        for bad in ["0", "101", "ten", "", "1.5"] {
            assert_eq!(
                PageLimit::parse(bad).unwrap_err(),
                "must be a whole number from 1 to 100",
                "{bad:?}"
            );
        }
    }
}
