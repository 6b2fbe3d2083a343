//! Event types and their wire form.
//!
//! On the wire an event is `{"type": "PostCreated", "data": {...}}`. Our bus
//! adds a sequence number (`"seq": 42`); other buses do not, so every field we
//! add is optional when reading, and unknown fields are ignored.

use serde::{Deserialize, Serialize};

/// Where a comment stands in moderation. Every comment starts `pending`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommentStatus {
    Pending,
    Approved,
    Rejected,
}

impl CommentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CommentStatus::Pending => "pending",
            CommentStatus::Approved => "approved",
            CommentStatus::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(CommentStatus::Pending),
            "approved" => Some(CommentStatus::Approved),
            "rejected" => Some(CommentStatus::Rejected),
            _ => None,
        }
    }
}

/// Emitted by posts when a post is created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostCreated {
    pub id: String,
    pub title: String,
}

/// Emitted by comments when a comment is created (always `pending`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommentCreated {
    pub id: String,
    pub content: String,
    pub post_id: String,
    pub status: CommentStatus,
}

/// Emitted by moderation once it has decided on a comment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommentModerated {
    pub id: String,
    pub post_id: String,
    pub status: CommentStatus,
    pub content: String,
}

/// Emitted by comments after it has stored moderation's decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommentUpdated {
    pub id: String,
    pub status: CommentStatus,
    pub post_id: String,
    pub content: String,
}

/// Every event the blog knows about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    PostCreated(PostCreated),
    CommentCreated(CommentCreated),
    CommentModerated(CommentModerated),
    CommentUpdated(CommentUpdated),
}

impl Event {
    /// The `type` field on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::PostCreated(_) => "PostCreated",
            Event::CommentCreated(_) => "CommentCreated",
            Event::CommentModerated(_) => "CommentModerated",
            Event::CommentUpdated(_) => "CommentUpdated",
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("events always serialise")
    }
}

/// An event as it arrives at `POST /events`: any type, any data, maybe a
/// sequence number. Services read this first and then decide whether the
/// type is one they care about, so an unknown type is a no-op, not an error.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub data: serde_json::Value,
    /// The bus's sequence number. Absent when the event came from another bus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// Why an envelope could not be read as one of our events.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("invalid data for {kind}: {source}")]
    InvalidData {
        kind: String,
        source: serde_json::Error,
    },
}

impl Envelope {
    /// Reads the envelope as one of our events.
    pub fn event(&self) -> Result<Event, EnvelopeError> {
        // The catalogue is the one list of the contract's types.
        if blog_catalogue::EventType::from_name(&self.kind).is_none() {
            return Err(EnvelopeError::UnknownType(self.kind.clone()));
        }
        let tagged = serde_json::json!({ "type": self.kind, "data": self.data });
        serde_json::from_value(tagged).map_err(|source| EnvelopeError::InvalidData {
            kind: self.kind.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_matches_the_node_app() {
        let event = Event::CommentCreated(CommentCreated {
            id: "c1".into(),
            content: "hi".into(),
            post_id: "p1".into(),
            status: CommentStatus::Pending,
        });
        let json: serde_json::Value = serde_json::from_str(&event.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type":"CommentCreated","data":{"id":"c1","content":"hi","postId":"p1","status":"pending"}})
        );
    }

    #[test]
    fn envelope_accepts_extras_and_missing_seq() {
        let with_seq: Envelope = serde_json::from_str(
            r#"{"type":"PostCreated","data":{"id":"1","title":"t","extra":true},"seq":7,"at":"now"}"#,
        )
        .unwrap();
        assert_eq!(with_seq.seq, Some(7));
        assert_eq!(
            with_seq.event().unwrap(),
            Event::PostCreated(PostCreated {
                id: "1".into(),
                title: "t".into()
            })
        );
        let foreign: Envelope =
            serde_json::from_str(r#"{"type":"PostCreated","data":{"id":"1","title":"t"}}"#)
                .unwrap();
        assert_eq!(foreign.seq, None);
        assert!(foreign.event().is_ok());
    }

    #[test]
    fn every_type_of_the_catalogue_is_an_event_here() {
        for kind in blog_catalogue::EventType::ALL {
            let envelope = Envelope {
                kind: kind.name().to_string(),
                data: serde_json::json!({}),
                seq: None,
            };
            assert!(
                matches!(envelope.event(), Err(EnvelopeError::InvalidData { .. })),
                "{kind} is in the catalogue, so empty data is invalid data, not an unknown type"
            );
        }
    }

    #[test]
    fn unknown_types_and_bad_data_are_told_apart() {
        let unknown: Envelope =
            serde_json::from_str(r#"{"type":"PostDeleted","data":{}}"#).unwrap();
        assert!(matches!(
            unknown.event(),
            Err(EnvelopeError::UnknownType(_))
        ));
        let bad: Envelope =
            serde_json::from_str(r#"{"type":"PostCreated","data":{"id":1}}"#).unwrap();
        assert!(matches!(
            bad.event(),
            Err(EnvelopeError::InvalidData { .. })
        ));
    }
}
