//! One record's bytes: the canonical JSON line, its SHA-256, and reading a line back.
//!
//! Owns: the line format and the hash rule. Does not own: how records link into a chain and
//! what a checkpoint must say (`chain`), or files (`segment`).
//!
//! A record is one line:
//!
//! ```text
//! {"seq":7,"time_millis":1700000000000,"kind":"event_start","payload":{..},"prev":"<64 hex>","hash":"<64 hex>"}\n
//! ```
//!
//! The members come in that order, with no whitespace, object keys inside `payload` sorted by
//! their UTF-8 bytes, strings escaped the way `serde_json` escapes them, and `hash` last. The
//! hash is SHA-256 over the same line *without* its `,"hash":"…"` member, that is the bytes
//! up to the comma followed by `}`. A reader never re-serialises to check the hash: it hashes
//! the bytes it read. It does re-serialise to insist that the line is in canonical form, so one
//! record has exactly one encoding.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The longest line (in bytes, newline included) a record may take. Bounds what a reader
/// buffers and what a damaged file can make it allocate.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// `,"hash":"` + 64 hex digits + `"}`: the fixed tail of every line.
const HASH_MEMBER: &[u8] = b",\"hash\":\"";
const HASH_TAIL_BYTES: usize = HASH_MEMBER.len() + 64 + 2;

/// A SHA-256 value, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The `prev` of record 1: there is no record before it.
    pub const ZERO: Hash = Hash([0; 32]);

    /// SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Hash(Sha256::digest(bytes).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 12 hex digits, for messages meant for people.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..6])
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

/// Why a string is not a [`Hash`](struct@Hash).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a SHA-256 hash: expected 64 lowercase hex digits")]
pub struct HashParseError {
    text: String,
}

impl FromStr for Hash {
    type Err = HashParseError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || HashParseError {
            text: text.chars().take(80).collect(),
        };
        // Lowercase only, so that a hash has one spelling (the canonical-form rule).
        if text.len() != 64 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(error());
        }
        let mut bytes = [0; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| error())?;
        Ok(Hash(bytes))
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The members of a record that its hash covers, in their canonical order.
#[derive(Serialize)]
struct Body<'a> {
    seq: u64,
    time_millis: u64,
    kind: &'a str,
    payload: &'a Map<String, Value>,
    prev: Hash,
}

/// A record as read back from a line whose hash checked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Record {
    pub seq: u64,
    pub time_millis: u64,
    pub kind: String,
    pub payload: Map<String, Value>,
    pub prev: Hash,
    pub hash: Hash,
}

/// A record ready to append: its line (newline included) and its hash.
#[derive(Debug)]
pub(crate) struct Encoded {
    pub line: Vec<u8>,
    pub hash: Hash,
}

/// Sorts every object's keys, however `serde_json` was built (its `preserve_order` feature
/// keeps insertion order, and features unify across a workspace).
pub(crate) fn canonicalize(payload: &mut Map<String, Value>) {
    payload.sort_keys();
    payload.values_mut().for_each(Value::sort_all_objects);
}

fn encode_body(
    seq: u64,
    time_millis: u64,
    kind: &str,
    payload: &Map<String, Value>,
    prev: Hash,
) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&Body {
        seq,
        time_millis,
        kind,
        payload,
        prev,
    })
}

/// Encodes a record. `payload` must already be [`canonicalize`]d.
pub(crate) fn encode(
    seq: u64,
    time_millis: u64,
    kind: &str,
    payload: &Map<String, Value>,
    prev: Hash,
) -> Result<Encoded, serde_json::Error> {
    let mut line = encode_body(seq, time_millis, kind, payload, prev)?;
    let hash = Hash::of(&line);
    line.pop(); // the body's closing brace; the hash member goes before it
    line.reserve(HASH_TAIL_BYTES + 1);
    line.extend_from_slice(HASH_MEMBER);
    line.extend_from_slice(hash.to_hex().as_bytes());
    line.extend_from_slice(b"\"}\n");
    Ok(Encoded { line, hash })
}

/// Why a line is not a good record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The line has the shape of a record, but its bytes do not hash to the hash written in it.
    HashMismatch,
    /// The line is not a record at all (reason for people).
    NotARecord(String),
}

/// Reads one line (without its newline). Checks the hash over the bytes as read, then that
/// the line parses and is in canonical form.
pub(crate) fn decode(line: &[u8]) -> Result<Record, DecodeError> {
    if line.len() < HASH_TAIL_BYTES + 2 {
        return Err(DecodeError::NotARecord(format!(
            "{} bytes is too short for a record",
            line.len()
        )));
    }
    let (body_open, tail) = line.split_at(line.len() - HASH_TAIL_BYTES);
    if !tail.starts_with(HASH_MEMBER) || !tail.ends_with(b"\"}") {
        return Err(DecodeError::NotARecord(
            "the line does not end with a \"hash\" member".into(),
        ));
    }
    let stated: Hash = std::str::from_utf8(&tail[HASH_MEMBER.len()..HASH_MEMBER.len() + 64])
        .ok()
        .and_then(|hex| hex.parse().ok())
        .ok_or_else(|| DecodeError::NotARecord("its hash is not 64 lowercase hex digits".into()))?;
    let mut hasher = Sha256::new();
    hasher.update(body_open);
    hasher.update(b"}");
    if Hash(hasher.finalize().into()) != stated {
        return Err(DecodeError::HashMismatch);
    }
    let mut record: Record = serde_json::from_slice(line)
        .map_err(|e| DecodeError::NotARecord(format!("not a record: {e}")))?;
    canonicalize(&mut record.payload);
    let canonical = encode_body(
        record.seq,
        record.time_millis,
        &record.kind,
        &record.payload,
        record.prev,
    )
    .map_err(|e| DecodeError::NotARecord(format!("cannot re-encode: {e}")))?;
    if canonical.split_last().map(|(_, open)| open) != Some(body_open) {
        return Err(DecodeError::NotARecord(
            "the record is not in canonical form (member order, spacing, key order or escapes differ)"
                .into(),
        ));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("test payloads are objects"),
        }
    }

    #[test]
    fn encodes_a_record_as_documented() {
        let payload = object(json!({"camera": "gate", "b": [1, {"z": 1, "a": 2}], "a": 0.5}));
        let encoded = encode(1, 1_700_000_000_000, "event_start", &payload, Hash::ZERO).unwrap();
        let body = r#"{"seq":1,"time_millis":1700000000000,"kind":"event_start","payload":{"a":0.5,"b":[1,{"a":2,"z":1}],"camera":"gate"},"prev":"0000000000000000000000000000000000000000000000000000000000000000"}"#;
        let hash = Hash::of(body.as_bytes());
        let expected = format!("{},\"hash\":\"{hash}\"}}\n", &body[..body.len() - 1]);
        assert_eq!(String::from_utf8(encoded.line).unwrap(), expected);
        assert_eq!(encoded.hash, hash);
    }

    #[test]
    fn decode_round_trips_and_rejects_each_kind_of_damage() {
        let payload = object(json!({"camera": "gate", "n": 3}));
        let prev = Hash::of(b"previous");
        let good = encode(7, 42, "camera_connected", &payload, prev).unwrap();
        let line = &good.line[..good.line.len() - 1];
        let record = decode(line).unwrap();
        assert_eq!(
            (
                record.seq,
                record.time_millis,
                record.kind.as_str(),
                record.prev,
                record.hash
            ),
            (7, 42, "camera_connected", prev, good.hash)
        );

        let text = std::str::from_utf8(line).unwrap();
        let rehash = |edited: &str| {
            // An edit whose hash is recomputed, so only the canonical-form check can object.
            let cut = edited.rfind(",\"hash\":\"").unwrap();
            let body = format!("{}}}", &edited[..cut]);
            format!(
                "{},\"hash\":\"{}\"}}",
                &edited[..cut],
                Hash::of(body.as_bytes())
            )
        };
        let set_hash_digit = |text: &str, digit: fn(&str) -> &'static str| {
            let at = text.rfind(",\"hash\":\"").unwrap() + 9;
            format!(
                "{}{}{}",
                &text[..at],
                digit(&text[at..=at]),
                &text[at + 1..]
            )
        };
        type Expect = fn(&DecodeError) -> bool;
        let table: Vec<(String, Expect)> = vec![
            (text.replace("\"n\":3", "\"n\":4"), |e| {
                *e == DecodeError::HashMismatch
            }),
            (text[..text.len() - 5].to_string(), |e| {
                matches!(e, DecodeError::NotARecord(_))
            }),
            (
                set_hash_digit(text, |d| if d == "0" { "1" } else { "0" }),
                |e| *e == DecodeError::HashMismatch,
            ),
            (
                set_hash_digit(text, |_| "Z"),
                |e| matches!(e, DecodeError::NotARecord(m) if m.contains("hex")),
            ),
            (
                rehash(&text.replace("{\"seq\":7,", "{ \"seq\":7,")),
                |e| matches!(e, DecodeError::NotARecord(m) if m.contains("canonical")),
            ),
            (
                rehash(&text.replace("\"camera\":\"gate\",\"n\":3", "\"n\":3,\"camera\":\"gate\"")),
                |e| matches!(e, DecodeError::NotARecord(m) if m.contains("canonical")),
            ),
            (
                rehash(&text.replace("\"kind\"", "\"extra\":1,\"kind\"")),
                |e| matches!(e, DecodeError::NotARecord(m) if m.contains("unknown field")),
            ),
            ("short".to_string(), |e| {
                matches!(e, DecodeError::NotARecord(_))
            }),
        ];
        for (damaged, expected) in table {
            let error = decode(damaged.as_bytes()).unwrap_err();
            assert!(expected(&error), "{damaged}: {error:?}");
        }
    }

    #[test]
    fn hashes_parse_only_in_canonical_spelling() {
        let table = [
            ("00".repeat(32), true),
            ("ab".repeat(32), true),
            ("AB".repeat(32), false),
            ("0".repeat(63), false),
            ("g".repeat(64), false),
        ];
        for (text, ok) in table {
            assert_eq!(text.parse::<Hash>().is_ok(), ok, "{text}");
        }
    }
}
