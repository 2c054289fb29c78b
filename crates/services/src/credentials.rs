//! Parse, don't validate: an [`Email`] or a [`Password`] that exists is
//! valid, so nothing downstream checks again.

use std::fmt;

/// Longest email accepted, in characters (RFC 5321's path limit).
pub const EMAIL_MAX_CHARS: usize = 254;
/// Shortest password accepted, in characters.
pub const PASSWORD_MIN_CHARS: usize = 8;
/// Longest password accepted, in characters.
pub const PASSWORD_MAX_CHARS: usize = 1024;

/// An email address: trimmed, lower-cased, shaped `local@domain.tld`, at most
/// 254 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Parses user input; the error is a sentence naming the broken rule.
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let email = input.trim().to_lowercase();
        if email.is_empty() {
            return Err("must not be empty");
        }
        if email.chars().count() > EMAIL_MAX_CHARS {
            return Err("must be at most 254 characters");
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces or control characters");
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err("must look like local@domain.tld");
        };
        let labels: Vec<&str> = domain.split('.').collect();
        let shaped = !local.is_empty()
            && !local.contains('@')
            && labels.len() >= 2
            && labels
                .iter()
                .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'))
            && labels.last().is_some_and(|tld| tld.chars().count() >= 2);
        if !shaped {
            return Err("must look like local@domain.tld");
        }
        Ok(Self(email))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key failed logins are counted under: the input trimmed and
    /// lower-cased like an [`Email`], whether or not it parses, so that an
    /// attempt with an address that has no account counts the same way.
    /// `None` for input too long to be anyone's address.
    pub fn login_key(input: &str) -> Option<String> {
        let key = input.trim().to_lowercase();
        (!key.is_empty() && key.chars().count() <= EMAIL_MAX_CHARS).then_some(key)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new password: 8 to 1024 characters, taken as given (no trimming).
/// `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Parses user input; the error is a sentence naming the broken rule.
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let chars = input.chars().count();
        if chars < PASSWORD_MIN_CHARS {
            return Err("must be at least 8 characters");
        }
        if chars > PASSWORD_MAX_CHARS {
            return Err("must be at most 1024 characters");
        }
        Ok(Self(input.to_owned()))
    }

    /// The password, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let email = Email::parse("  Ada.Lovelace@Example.COM \n").expect("valid");
        assert_eq!(email.as_str(), "ada.lovelace@example.com");
        assert_eq!(email.to_string(), "ada.lovelace@example.com");
    }

    #[test]
    fn well_formed_emails_parse() {
        for ok in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            "x_y-z@my-host.io",
            "ünïcødé@exämple.de",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn malformed_emails_are_refused_with_the_rule() {
        for (bad, rule) in [
            ("", "must not be empty"),
            ("   ", "must not be empty"),
            ("plainaddress", "must look like local@domain.tld"),
            ("@example.com", "must look like local@domain.tld"),
            ("ada@", "must look like local@domain.tld"),
            ("ada@localhost", "must look like local@domain.tld"),
            ("ada@example.c", "must look like local@domain.tld"),
            ("ada@example..com", "must look like local@domain.tld"),
            ("ada@.example.com", "must look like local@domain.tld"),
            ("ada@-example.com", "must look like local@domain.tld"),
            ("a@b@example.com", "must look like local@domain.tld"),
            (
                "ada lovelace@example.com",
                "must not contain spaces or control characters",
            ),
            (
                "ada\u{0}@example.com",
                "must not contain spaces or control characters",
            ),
        ] {
            assert_eq!(Email::parse(bad), Err(rule), "{bad:?}");
        }
    }

    #[test]
    fn emails_may_be_254_characters_but_not_255() {
        let domain = "@example.com";
        let at_limit = format!("{}{domain}", "a".repeat(EMAIL_MAX_CHARS - domain.len()));
        let over = format!("a{at_limit}");
        assert_eq!(at_limit.chars().count(), 254);
        assert!(Email::parse(&at_limit).is_ok());
        assert_eq!(Email::parse(&over), Err("must be at most 254 characters"));
    }

    #[test]
    fn the_login_key_normalises_like_an_email_and_skips_impossible_input() {
        assert_eq!(Email::login_key(" Ada@X.io ").as_deref(), Some("ada@x.io"));
        assert_eq!(
            Email::login_key("not an email").as_deref(),
            Some("not an email")
        );
        assert_eq!(Email::login_key(""), None);
        assert_eq!(Email::login_key(&"a".repeat(255)), None);
    }

    #[test]
    fn passwords_count_characters_not_bytes() {
        assert_eq!(
            Password::parse("1234567"),
            Err("must be at least 8 characters")
        );
        assert!(Password::parse("12345678").is_ok());
        assert!(
            Password::parse("ééééééé").is_err(),
            "7 characters, 14 bytes"
        );
        assert!(Password::parse(&"é".repeat(PASSWORD_MAX_CHARS)).is_ok());
        assert_eq!(
            Password::parse(&"x".repeat(PASSWORD_MAX_CHARS + 1)),
            Err("must be at most 1024 characters")
        );
    }

    #[test]
    fn passwords_are_not_trimmed_and_never_shown() {
        let password = Password::parse("  spaced out  ").expect("valid");
        assert_eq!(password.expose(), "  spaced out  ");
        assert_eq!(format!("{password:?}"), "Password([redacted])");
    }
}
