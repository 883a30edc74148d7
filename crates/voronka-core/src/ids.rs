//! Typed identifiers. Each id is a UUID (version 7 when we mint it, so ids sort
//! by creation time) wrapped in its own type, so a `DealId` can never be passed
//! where a `UserId` is expected.

/// A string that is not a valid UUID was given where an id was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a valid id (expected a UUID)")]
pub struct IdParseError {
    pub input: String,
}

/// Declares a UUID newtype with parsing, display and serde as a plain string.
#[macro_export]
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// Wraps an existing UUID (for example one read back from storage).
            pub const fn from_uuid(uuid: uuid::Uuid) -> Self {
                Self(uuid)
            }

            /// Mints a new time-ordered id from the given time and random bytes.
            /// Callers at the edge pass a clock reading and entropy; the core never
            /// reaches for either itself.
            pub fn from_parts(unix_millis: u64, random: [u8; 10]) -> Self {
                Self(uuid::Builder::from_unix_timestamp_millis(unix_millis, &random).into_uuid())
            }

            pub const fn as_uuid(&self) -> &uuid::Uuid {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::ids::IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| $crate::ids::IdParseError { input: s.chars().take(64).collect() })
            }
        }
    };
}

uuid_id!(
    /// Identifies one command as sent by a client; a retried command carries the
    /// same id and is answered with the first result.
    CommandId
);
uuid_id!(
    /// Ties together every event caused, directly or not, by one user action.
    CorrelationId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_strings() {
        let id = CommandId::from_parts(1_700_000_000_000, [7; 10]);
        let parsed: CommandId = id.to_string().parse().unwrap();
        assert_eq!(parsed, id);
    }

    #[test]
    fn ids_minted_later_sort_later() {
        let first = CommandId::from_parts(1_000, [255; 10]);
        let second = CommandId::from_parts(1_001, [0; 10]);
        assert!(first < second);
    }

    #[test]
    fn a_malformed_id_is_an_error_not_a_panic() {
        let err = "not-a-uuid".parse::<CommandId>().unwrap_err();
        assert_eq!(err.input, "not-a-uuid");
    }
}
