//! Field-level validation errors, collected so a caller hears about every
//! bad field at once.

use serde::Serialize;

/// One invalid field: its name as the API spells it, and the broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    /// An error on `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
