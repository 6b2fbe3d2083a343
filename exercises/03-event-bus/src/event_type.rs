//! What the bus accepts as an event's `type`.
//!
//! The bus does not know or care which types exist: it stores and forwards
//! any of them, so a new kind of event needs no change here. It only refuses
//! a type that no consumer could ever match on.

/// Longer than any sensible event name; a limit keeps garbage out of the log.
pub const MAX_TYPE_CHARS: usize = 200;

/// An event type that is not blank and not absurdly long. Kept exactly as
/// sent (no trimming): consumers compare it character for character.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventType(String);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventTypeError {
    #[error("the event `type` must not be empty")]
    Empty,
    #[error("the event `type` must be at most {max} characters, this one has {length}")]
    TooLong { max: usize, length: usize },
}

impl EventType {
    pub fn parse(text: &str) -> Result<EventType, EventTypeError> {
        if text.trim().is_empty() {
            return Err(EventTypeError::Empty);
        }
        let length = text.chars().count();
        if length > MAX_TYPE_CHARS {
            return Err(EventTypeError::TooLong {
                max: MAX_TYPE_CHARS,
                length,
            });
        }
        Ok(EventType(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_named_type_is_fine_but_blank_or_huge_is_not() {
        assert_eq!(
            EventType::parse("PostCreated").unwrap().as_str(),
            "PostCreated"
        );
        assert_eq!(
            EventType::parse("SomethingNew").unwrap().as_str(),
            "SomethingNew"
        );
        assert_eq!(EventType::parse(""), Err(EventTypeError::Empty));
        assert_eq!(EventType::parse("  "), Err(EventTypeError::Empty));
        let huge = "x".repeat(MAX_TYPE_CHARS + 1);
        assert!(matches!(
            EventType::parse(&huge),
            Err(EventTypeError::TooLong { .. })
        ));
    }
}
