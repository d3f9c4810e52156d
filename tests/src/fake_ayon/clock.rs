//! Wall-clock times written the way ayon-backend writes them.
//!
//! The server stores `services.last_seen` as a naive local timestamp (Python's
//! `datetime.now()`), so the ServiceModel shows it without an offset, while
//! `hosts.last_seen` and the user times come out of `timestamptz` columns with
//! `+00:00`. The fake runs on UTC for both, as the captured server did.

use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time with the microsecond resolution of Postgres timestamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    micros: i64,
}

impl Timestamp {
    pub fn now() -> Timestamp {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970");
        Timestamp {
            micros: i64::try_from(since_epoch.as_micros()).expect("a time before year 294247"),
        }
    }

    #[cfg(test)]
    pub fn from_micros(micros: i64) -> Timestamp {
        Timestamp { micros }
    }

    /// `2026-11-23T13:22:47.301489`: Python's `isoformat()` of a naive datetime,
    /// which leaves the fraction out when it is zero.
    pub fn naive_iso(self) -> String {
        let secs = self.micros.div_euclid(1_000_000);
        let fraction = self.micros.rem_euclid(1_000_000);
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        let of_day = secs.rem_euclid(86_400);
        let mut out = format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            of_day / 3600,
            of_day / 60 % 60,
            of_day % 60
        );
        if fraction != 0 {
            out.push_str(&format!(".{fraction:06}"));
        }
        out
    }

    /// The same instant as an aware UTC datetime: `...+00:00`.
    pub fn utc_iso(self) -> String {
        self.naive_iso() + "+00:00"
    }

    /// Seconds from `earlier` to `self`, as Postgres' `extract(epoch from ...)` gives them.
    pub fn seconds_since(self, earlier: Timestamp) -> f64 {
        (self.micros - earlier.micros) as f64 / 1e6
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); Howard Hinnant's
/// `civil_from_days`, which needs no tables and is exact for every i64 day we can meet.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naive_iso_has_microseconds_and_no_offset() {
        // 2026-11-23T13:22:47.301489 UTC
        let t = Timestamp::from_micros(1_795_440_167_301_489);
        assert_eq!(t.naive_iso(), "2026-11-23T13:22:47.301489");
        assert_eq!(t.utc_iso(), "2026-11-23T13:22:47.301489+00:00");
    }

    #[test]
    fn whole_seconds_leave_the_fraction_out_like_python() {
        let t = Timestamp::from_micros(1_795_440_167_000_000);
        assert_eq!(t.naive_iso(), "2026-11-23T13:22:47");
        assert_eq!(Timestamp::from_micros(0).naive_iso(), "1970-01-01T00:00:00");
    }

    #[test]
    fn leap_days_and_year_ends() {
        // 2024-02-29T23:59:59.000001 and 2000-12-31T00:00:00.5
        assert_eq!(
            Timestamp::from_micros(1_709_251_199_000_001).naive_iso(),
            "2024-02-29T23:59:59.000001"
        );
        assert_eq!(
            Timestamp::from_micros(978_220_800_500_000).naive_iso(),
            "2000-12-31T00:00:00.500000"
        );
    }

    #[test]
    fn delta_is_float_seconds() {
        let a = Timestamp::from_micros(1_000_000);
        let b = Timestamp::from_micros(1_001_789);
        assert_eq!(b.seconds_since(a), 0.001789);
    }
}
