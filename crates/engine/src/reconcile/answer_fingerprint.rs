//! What a heartbeat answer asks, as one SHA-256 digest: two answers have the same
//! fingerprint exactly when they ask the same (the heartbeat bookkeeping of each entry
//! aside, see [`VOLATILE`]). Most answers repeat the last; comparing two digests lets the
//! loop see that at once, where comparing the entries themselves walked every value of
//! every service on every tick. The digest is taken in the heartbeat's own task, off the
//! loop, which then drops a repeated answer's JSON there too.
//!
//! The same relation as `serde_json::Value`'s equality, key order aside (maps compare
//! without order there too): every value is written with its kind and, for strings and
//! maps, its length, so no two different values write the same bytes.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Fields of an answer's entry that change from one heartbeat to the next without
/// changing what the service is: the server's record of the host's last heartbeats.
/// `ServiceSpec::from_wire` reads none of them.
pub const VOLATILE: [&str; 3] = ["isRunning", "lastSeen", "lastSeenDelta"];

/// The digest of what an answer's entries ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AnswerFingerprint([u8; 32]);

impl AnswerFingerprint {
    pub fn of(entries: &[Value]) -> AnswerFingerprint {
        let mut digest = Sha256::new();
        digest.update((entries.len() as u64).to_le_bytes());
        for entry in entries {
            match entry {
                Value::Object(map) => write_object(
                    &mut digest,
                    map.iter()
                        .filter(|(key, _)| !VOLATILE.contains(&key.as_str())),
                ),
                other => write_value(&mut digest, other),
            }
        }
        AnswerFingerprint(digest.finalize().into())
    }
}

fn write_value(digest: &mut Sha256, value: &Value) {
    match value {
        Value::Null => digest.update(b"n"),
        Value::Bool(b) => digest.update(if *b { b"t" } else { b"f" }),
        Value::Number(number) => {
            // Its text tells 1 from 1.0, as equality does; numbers end at the ';'.
            digest.update(b"#");
            digest.update(number.to_string().as_bytes());
            digest.update(b";");
        }
        Value::String(s) => write_str(digest, b's', s),
        Value::Array(items) => {
            digest.update(b"[");
            digest.update((items.len() as u64).to_le_bytes());
            for item in items {
                write_value(digest, item);
            }
        }
        Value::Object(map) => write_object(digest, map.iter()),
    }
}

/// A map's entries by key, whatever order they came in.
fn write_object<'a>(digest: &mut Sha256, entries: impl Iterator<Item = (&'a String, &'a Value)>) {
    let mut entries: Vec<(&String, &Value)> = entries.collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    digest.update(b"{");
    digest.update((entries.len() as u64).to_le_bytes());
    for (key, value) in entries {
        write_str(digest, b'k', key);
        write_value(digest, value);
    }
}

fn write_str(digest: &mut Sha256, kind: u8, s: &str) {
    digest.update([kind]);
    digest.update((s.len() as u64).to_le_bytes());
    digest.update(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn of(entries: &[Value]) -> AnswerFingerprint {
        AnswerFingerprint::of(entries)
    }

    #[test]
    fn the_heartbeat_bookkeeping_and_the_key_order_change_nothing() {
        let entry = json!({"name": "a", "shouldRun": true, "data": {"image": "img:1", "env": {"A": "1", "B": "2"}}});
        let mut seen = entry.clone();
        seen["isRunning"] = json!(true);
        seen["lastSeen"] = json!("2026-12-01T10:00:00");
        seen["lastSeenDelta"] = json!(3.5);
        assert_eq!(of(std::slice::from_ref(&entry)), of(&[seen]));
        let reordered = json!({"data": {"env": {"B": "2", "A": "1"}, "image": "img:1"}, "shouldRun": true, "name": "a"});
        assert_eq!(of(&[entry]), of(&[reordered]));
    }

    #[test]
    fn anything_a_service_is_made_of_is_news() {
        let base =
            json!({"name": "a", "shouldRun": true, "data": {"image": "img:1", "ports": [1, 2]}});
        let same = of(std::slice::from_ref(&base));
        let changed = |change: &dyn Fn(&mut Value)| {
            let mut entry = base.clone();
            change(&mut entry);
            of(&[entry])
        };
        assert_ne!(same, changed(&|e| e["data"]["image"] = json!("img:2")));
        assert_ne!(same, changed(&|e| e["shouldRun"] = json!(false)));
        assert_ne!(same, changed(&|e| e["data"]["ports"] = json!([2, 1])));
        assert_ne!(same, changed(&|e| e["data"]["ports"] = json!([1.0, 2])));
        assert_ne!(same, changed(&|e| e["data"]["ports"] = json!([1, 2, null])));
        assert_ne!(same, changed(&|e| e["extra"] = json!(1)));
        // A volatile name counts inside the spec: only the entry's own bookkeeping is left out.
        assert_ne!(same, changed(&|e| e["data"]["isRunning"] = json!(true)));
        assert_ne!(same, of(&[base.clone(), base.clone()]));
        assert_ne!(same, of(&[]));
    }

    #[test]
    fn values_that_would_write_alike_without_their_kinds_and_lengths_differ() {
        assert_ne!(of(&[json!("1")]), of(&[json!(1)]));
        assert_ne!(of(&[json!(["ab", "c"])]), of(&[json!(["a", "bc"])]));
        assert_ne!(of(&[json!({"a": "b"})]), of(&[json!({"ab": ""})]));
        assert_ne!(of(&[json!([[]])]), of(&[json!([])]));
        assert_ne!(of(&[json!(null)]), of(&[json!(false)]));
    }
}
