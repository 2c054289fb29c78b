//! Ids as a collaborator: UUIDv7 strings (time-ordered, index friendly) in
//! production; tests may substitute their own sequence.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Makes new ids.
pub trait IdGenerator: Send + Sync + fmt::Debug {
    /// A new, unique id.
    fn new_id(&self) -> String;
}

/// UUIDv7, hyphenated lower-case.
#[derive(Debug, Clone, Copy, Default)]
pub struct UuidV7Ids;

impl IdGenerator for UuidV7Ids {
    fn new_id(&self) -> String {
        uuid::Uuid::now_v7().to_string()
    }
}

/// Ids `id-1`, `id-2`, ... in order: for tests and examples that name the
/// ids they expect. Unique within one generator only.
#[derive(Debug, Default)]
pub struct SequentialIds(AtomicU64);

impl IdGenerator for SequentialIds {
    fn new_id(&self) -> String {
        format!("id-{}", self.0.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_v7_ids_are_unique_version_7_and_increase() {
        let ids: Vec<String> = (0..100).map(|_| UuidV7Ids.new_id()).collect();
        for id in &ids {
            let parsed = uuid::Uuid::parse_str(id).expect("a UUID");
            assert_eq!(parsed.get_version_num(), 7);
            assert_eq!(id, &id.to_lowercase());
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "time-ordered");
    }

    #[test]
    fn sequential_ids_count_from_one() {
        let ids = SequentialIds::default();
        assert_eq!([ids.new_id(), ids.new_id()], ["id-1", "id-2"]);
    }
}
