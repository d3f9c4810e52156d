//! How far a container's output has been read, so that a follower attaching again to the
//! same container (its stream ended while the engine still listed it running, as happens
//! around a stop) reads on from there instead of its whole past again.
//!
//! The engine stamps each line (`timestamps=true`) and can start at a second (`since`);
//! the rest is done here: lines up to the mark are skipped. The mark counts the lines read
//! with the very last stamp, so an engine that stamps in whole seconds loses none either.

use std::time::{Duration, SystemTime};

/// Where a follower starts reading a container's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFrom {
    /// Every line: a container this host has just started.
    Start,
    /// Its last lines: a container found running (its older past is not replayed).
    Tail(usize),
    /// After what an earlier follower of the same container read.
    After(ReadMark),
}

impl OutputFrom {
    /// The engine's `since`, in whole Unix seconds (0: from the start).
    pub fn since_secs(&self) -> i32 {
        match self {
            OutputFrom::After(mark) => mark
                .at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| i32::try_from(d.as_secs()).unwrap_or(i32::MAX)),
            _ => 0,
        }
    }

    /// The engine's `tail`.
    pub fn tail(&self) -> String {
        match self {
            OutputFrom::Tail(n) => n.to_string(),
            _ => "all".to_string(),
        }
    }
}

/// The stamp of the last line read, and how many lines bore exactly that stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadMark {
    pub at: SystemTime,
    pub lines_at: u32,
}

impl ReadMark {
    /// The mark after reading a line stamped `at`.
    pub fn advance(mark: Option<ReadMark>, at: SystemTime) -> ReadMark {
        match mark {
            Some(mark) if mark.at == at => ReadMark {
                at,
                lines_at: mark.lines_at + 1,
            },
            _ => ReadMark { at, lines_at: 1 },
        }
    }
}

/// Drops the lines a re-attached follower has read before; lets through everything else.
#[derive(Debug, Clone)]
pub struct SkipRead {
    mark: Option<ReadMark>,
    /// Lines stamped exactly `mark.at` still to skip.
    same_left: u32,
}

impl SkipRead {
    pub fn new(from: OutputFrom) -> SkipRead {
        match from {
            OutputFrom::After(mark) => SkipRead {
                mark: Some(mark),
                same_left: mark.lines_at,
            },
            _ => SkipRead {
                mark: None,
                same_left: 0,
            },
        }
    }

    /// Whether a line stamped `at` is new. A line without a stamp is let through: a
    /// duplicate is better than a lost line.
    pub fn is_new(&mut self, at: Option<SystemTime>) -> bool {
        let (Some(mark), Some(at)) = (self.mark, at) else {
            return true;
        };
        if at < mark.at {
            return false;
        }
        if at == mark.at && self.same_left > 0 {
            self.same_left -= 1;
            return false;
        }
        // Past the mark: every later line is new.
        self.mark = None;
        true
    }
}

/// Splits the engine's stamp off a line: `2026-12-02T00:40:01.123456789Z text`. A line
/// that does not start with a stamp is returned whole.
pub fn split_stamp(line: &str) -> (Option<SystemTime>, &str) {
    let (stamp, text) = line.split_once(' ').unwrap_or((line, ""));
    match parse_stamp(stamp) {
        Some(at) => (Some(at), text),
        None => (None, line),
    }
}

/// RFC 3339 with `Z` (Docker) or a numeric offset (Podman may use its local zone).
fn parse_stamp(stamp: &str) -> Option<SystemTime> {
    if !stamp.starts_with(|c: char| c.is_ascii_digit()) || stamp.len() < 20 {
        return None;
    }
    if let Some(utc) = stamp.strip_suffix('Z') {
        return humantime::parse_rfc3339_weak(utc).ok();
    }
    let split = stamp.len().checked_sub(6)?;
    let (local, offset) = stamp.split_at(split);
    let sign = match offset.as_bytes().first() {
        Some(b'+') => 1i64,
        Some(b'-') => -1,
        _ => return None,
    };
    let (hours, minutes) = offset[1..].split_once(':')?;
    let seconds = (hours.parse::<i64>().ok()? * 60 + minutes.parse::<i64>().ok()?) * 60;
    let local = humantime::parse_rfc3339_weak(local).ok()?;
    let shift = Duration::from_secs(seconds.unsigned_abs());
    // Local time ahead of UTC by the offset: UTC is local minus it.
    if sign * seconds >= 0 {
        local.checked_sub(shift)
    } else {
        local.checked_add(shift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(stamp: &str) -> SystemTime {
        humantime::parse_rfc3339(stamp).unwrap()
    }

    #[test]
    fn the_stamp_is_split_off_in_either_form() {
        let (stamp, text) = split_stamp("2026-12-02T00:40:01.123456789Z tick 1");
        assert_eq!(stamp, Some(at("2026-12-02T00:40:01.123456789Z")));
        assert_eq!(text, "tick 1");
        let (stamp, text) = split_stamp("2026-12-02T01:40:01+01:00 a line with  spaces");
        assert_eq!(stamp, Some(at("2026-12-02T00:40:01Z")));
        assert_eq!(text, "a line with  spaces");
        assert_eq!(
            split_stamp("2026-12-02T00:40:01.5Z"),
            (Some(at("2026-12-02T00:40:01.5Z")), "")
        );
        assert_eq!(split_stamp("no stamp here"), (None, "no stamp here"));
        assert_eq!(split_stamp("12 apples"), (None, "12 apples"));
    }

    #[test]
    fn a_re_attached_follower_reads_only_what_came_after_its_mark() {
        let stamps = [
            "2026-12-02T00:40:00Z",
            "2026-12-02T00:40:01Z",
            "2026-12-02T00:40:01Z",
            "2026-12-02T00:40:01Z",
            "2026-12-02T00:40:02Z",
        ]
        .map(at);
        // The first follower read the first three lines (two of them in second 01).
        let mut mark = None;
        for stamp in &stamps[..3] {
            mark = Some(ReadMark::advance(mark, *stamp));
        }
        let mark = mark.unwrap();
        assert_eq!(mark.lines_at, 2);
        let from = OutputFrom::After(mark);
        assert_eq!(from.since_secs() as u64, 1_796_172_001);
        assert_eq!(from.tail(), "all");
        // The engine sends again from second 01: the two lines read are skipped, the
        // third of that second and all later ones are new.
        let mut skip = SkipRead::new(from);
        let new: Vec<bool> = stamps[1..]
            .iter()
            .map(|stamp| skip.is_new(Some(*stamp)))
            .collect();
        assert_eq!(new, [false, false, true, true]);
        // A line without a stamp is never dropped.
        assert!(SkipRead::new(from).is_new(None));
    }

    #[test]
    fn a_first_follower_skips_nothing() {
        let mut skip = SkipRead::new(OutputFrom::Start);
        assert!(skip.is_new(Some(at("2026-12-02T00:40:00Z"))));
        assert_eq!(OutputFrom::Tail(100).tail(), "100");
        assert_eq!(OutputFrom::Tail(100).since_secs(), 0);
    }
}
