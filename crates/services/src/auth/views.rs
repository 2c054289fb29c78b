//! What the auth service returns, as the API shows it.

use chrono::{DateTime, Utc};
use promptyard_repositories::{SessionPublicId, User, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A user as the API shows it: never the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuthUser {
    #[schema(value_type = String, example = "0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b")]
    pub id: UserId,
    #[schema(example = "ada@example.com")]
    pub email: String,
    pub is_active: bool,
    #[serde(with = "crate::rfc3339")]
    #[schema(example = "2026-11-25T17:00:00.123Z")]
    pub created_at: DateTime<Utc>,
}

view_from_row!(User => AuthUser {
    same: [id, email, is_active],
    utc: [created_at],
});

/// One of the caller's sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    /// The session's id, a UUIDv7 (never derived from its key, which is
    /// never shown); `DELETE /api/v1/auth/sessions/{id}` takes it.
    #[schema(value_type = String, example = "0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b")]
    pub id: SessionPublicId,
    #[serde(with = "crate::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::rfc3339")]
    pub expires_at: DateTime<Utc>,
    #[serde(with = "crate::rfc3339")]
    pub last_seen_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    /// Whether this is the session making the request.
    pub current: bool,
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn ada() -> AuthUser {
        AuthUser {
            id: "u".into(),
            email: "a@b.co".into(),
            is_active: true,
            created_at: Utc
                .with_ymd_and_hms(2026, 11, 18, 7, 6, 40)
                .single()
                .expect("valid")
                + chrono::TimeDelta::milliseconds(120),
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds_and_read_back_from_any_offset() {
        let user = ada();
        let json = serde_json::to_value(&user).expect("json");
        assert_eq!(json["created_at"], "2026-11-18T07:06:40.120Z");
        let back: AuthUser = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, user);
        let offset = serde_json::json!({"id": "u", "email": "a@b.co", "is_active": true,
            "created_at": "2026-11-18T09:06:40.120+02:00"});
        let parsed: AuthUser = serde_json::from_value(offset).expect("offsets are read as UTC");
        assert_eq!(parsed.created_at, user.created_at);
        let junk = serde_json::json!({"id": "u", "email": "a@b.co", "is_active": true, "created_at": "yesterday"});
        assert!(serde_json::from_value::<AuthUser>(junk).is_err());
    }
}
