//! Serde for timestamps as the API writes them: RFC 3339 in UTC with
//! milliseconds and `Z` (`2026-11-25T17:00:00.123Z`). Any RFC 3339 offset
//! is read back as UTC.
//!
//! ```
//! use chrono::{DateTime, TimeZone, Utc};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct At {
//!     #[serde(with = "promptyard_services::rfc3339")]
//!     at: DateTime<Utc>,
//! }
//!
//! let at = At { at: Utc.with_ymd_and_hms(2026, 11, 25, 17, 0, 0).unwrap() };
//! assert_eq!(serde_json::to_string(&at).unwrap(), r#"{"at":"2026-11-25T17:00:00.000Z"}"#);
//! ```

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// Writes `2026-11-25T17:00:00.123Z`.
pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Reads any RFC 3339 timestamp, as UTC.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(d)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|at| at.to_utc())
        .map_err(serde::de::Error::custom)
}

/// The same for `Option<DateTime<Utc>>`: `null` or a timestamp.
pub mod option {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// `null` or `2026-11-25T17:00:00.123Z`.
    pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => super::serialize(at, s),
            None => s.serialize_none(),
        }
    }

    /// `null` or any RFC 3339 timestamp.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| {
                DateTime::parse_from_rfc3339(&text)
                    .map(|at| at.to_utc())
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    //! The plain timestamp's own: `auth::views`'s tests.
    use chrono::{DateTime, TimeZone, Utc};

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Maybe {
        #[serde(with = "super::option")]
        at: Option<DateTime<Utc>>,
    }

    fn five_pm() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 17, 0, 0).unwrap() + chrono::TimeDelta::milliseconds(123)
    }

    #[test]
    fn an_optional_timestamp_is_null_or_a_timestamp() {
        for (value, json) in [
            (None, r#"{"at":null}"#),
            (Some(five_pm()), r#"{"at":"2026-11-25T17:00:00.123Z"}"#),
        ] {
            let maybe = Maybe { at: value };
            assert_eq!(serde_json::to_string(&maybe).unwrap(), json);
            assert_eq!(serde_json::from_str::<Maybe>(json).unwrap(), maybe);
        }
        let from_paris: Maybe =
            serde_json::from_str(r#"{"at":"2026-11-25T18:00:00.123+01:00"}"#).unwrap();
        assert_eq!(from_paris.at, Some(five_pm()));
        assert!(serde_json::from_str::<Maybe>(r#"{"at":"soon"}"#).is_err());
    }
}
