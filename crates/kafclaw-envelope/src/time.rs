//! Timestamps as Go writes them: RFC 3339 with nanoseconds and an offset; zero means "unset".

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result, shorten};

/// A point in time on the wire (Go's `time.Time`).
///
/// Encoded like Go's RFC3339Nano layout: `2026-11-21T10:15:30.123456789+01:00`,
/// trailing zeros of the fraction dropped, `Z` for a zero offset. Any RFC 3339
/// offset is accepted when decoding and kept when encoding again. A missing
/// value is Go's zero time, `0001-01-01T00:00:00Z` ([`Timestamp::zero`]).
///
/// Equality compares instants, so `10:00:00Z` equals `11:00:00+01:00`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(DateTime<FixedOffset>);

impl Timestamp {
    /// Go's zero time, `0001-01-01T00:00:00Z`: what a missing timestamp decodes to.
    pub fn zero() -> Self {
        let date = NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or(NaiveDate::MIN);
        Timestamp(date.and_time(NaiveTime::MIN).and_utc().fixed_offset())
    }

    /// The current time in UTC.
    pub fn now() -> Self {
        Self::from_datetime(Utc::now())
    }

    /// Wraps any `chrono` date-time. Offsets with a seconds part (which RFC 3339
    /// cannot express) are converted to UTC.
    pub fn from_datetime<Tz: TimeZone>(at: DateTime<Tz>) -> Self {
        let fixed = at.fixed_offset();
        if fixed.offset().local_minus_utc() % 60 == 0 {
            Timestamp(fixed)
        } else {
            Timestamp(fixed.with_timezone(&Utc).fixed_offset())
        }
    }

    /// Parses RFC 3339 as Go does: `YYYY-MM-DDThh:mm:ss[.frac](Z|±hh:mm)`,
    /// upper-case `T` and `Z`, seconds 00–59, at most nanosecond precision kept.
    pub fn parse(text: &str) -> Result<Self> {
        parse_rfc3339(text).map_err(|reason| Error::InvalidTimestamp {
            value: shorten(text, 64),
            reason: reason.to_owned(),
        })
    }

    /// True for Go's zero time (the instant `0001-01-01T00:00:00Z`, any offset).
    pub fn is_zero(&self) -> bool {
        *self == Self::zero()
    }

    /// The wrapped date-time with its original offset.
    pub fn as_datetime(&self) -> DateTime<FixedOffset> {
        self.0
    }

    /// The same instant in UTC.
    pub fn to_utc(&self) -> DateTime<Utc> {
        self.0.with_timezone(&Utc)
    }

    /// Nanoseconds since the Unix epoch (as Go's `UnixNano`), `None` outside ±292 years.
    pub fn unix_nanos(&self) -> Option<i64> {
        self.0.timestamp_nanos_opt()
    }

    /// RFC3339Nano text, exactly as Go's `time.Time` marshals it.
    ///
    /// Fails only for years outside 0000–9999, which Go cannot marshal either.
    pub fn to_rfc3339_nano(&self) -> Result<String> {
        format_go(&self.0).ok_or_else(|| Error::Encode {
            what: "timestamp",
            reason: format!(
                "year {} is outside 0000-9999",
                chrono::Datelike::year(&self.0)
            ),
        })
    }
}

impl Default for Timestamp {
    /// Go's zero time.
    fn default() -> Self {
        Self::zero()
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match format_go(&self.0) {
            Some(text) => f.write_str(&text),
            None => write!(f, "{}", self.0.to_rfc3339()),
        }
    }
}

impl<Tz: TimeZone> From<DateTime<Tz>> for Timestamp {
    fn from(at: DateTime<Tz>) -> Self {
        Self::from_datetime(at)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match format_go(&self.0) {
            Some(text) => serializer.serialize_str(&text),
            None => Err(serde::ser::Error::custom(
                "timestamp year is outside 0000-9999",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<'de, str>::deserialize(deserializer)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Timestamp {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 date-time with offset (Go RFC3339Nano)."
        })
    }
}

fn format_go(at: &DateTime<FixedOffset>) -> Option<String> {
    use chrono::{Datelike, Timelike};
    let year = at.year();
    if !(0..=9999).contains(&year) {
        return None;
    }
    let mut out = format!(
        "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    // chrono keeps a leap second as nanosecond >= 1e9; Go has no leap seconds.
    let nanos = at.nanosecond() % 1_000_000_000;
    if nanos != 0 {
        let digits = format!("{nanos:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    let offset = at.offset().local_minus_utc();
    if offset == 0 {
        out.push('Z');
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let minutes = offset.unsigned_abs() / 60;
        out.push_str(&format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60));
    }
    Some(out)
}

fn digits(bytes: &[u8], at: usize, len: usize) -> Option<u32> {
    let slice = bytes.get(at..at + len)?;
    slice.iter().try_fold(0u32, |acc, b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

fn expect(bytes: &[u8], at: usize, want: u8) -> bool {
    bytes.get(at) == Some(&want)
}

pub(crate) fn parse_rfc3339(text: &str) -> std::result::Result<Timestamp, &'static str> {
    let b = text.as_bytes();
    let year = digits(b, 0, 4).ok_or("expected a four-digit year")?;
    if !expect(b, 4, b'-') {
        return Err("expected '-' after the year");
    }
    let month = digits(b, 5, 2).ok_or("expected a two-digit month")?;
    if !expect(b, 7, b'-') {
        return Err("expected '-' after the month");
    }
    let day = digits(b, 8, 2).ok_or("expected a two-digit day")?;
    if !expect(b, 10, b'T') {
        return Err("expected 'T' between date and time");
    }
    let hour = digits(b, 11, 2).ok_or("expected a two-digit hour")?;
    if !expect(b, 13, b':') {
        return Err("expected ':' after the hour");
    }
    let minute = digits(b, 14, 2).ok_or("expected two-digit minutes")?;
    if !expect(b, 16, b':') {
        return Err("expected ':' after the minutes");
    }
    let second = digits(b, 17, 2).ok_or("expected two-digit seconds")?;
    let mut at = 19;
    let mut nanos = 0u32;
    if expect(b, at, b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 9 {
                nanos = nanos * 10 + u32::from(b[at] - b'0');
            }
            at += 1;
        }
        if at == start {
            return Err("expected digits after '.'");
        }
        let kept = (at - start).min(9);
        nanos *= 10u32.pow(9 - kept as u32);
    }
    let offset_secs: i32 = match b.get(at) {
        Some(b'Z') => {
            at += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(b, at + 1, 2).ok_or("expected a two-digit offset hour")?;
            if !expect(b, at + 3, b':') {
                return Err("expected ':' in the offset");
            }
            let om = digits(b, at + 4, 2).ok_or("expected two-digit offset minutes")?;
            if oh > 23 || om > 59 {
                return Err("offset out of range");
            }
            at += 6;
            let secs = (oh * 3600 + om * 60) as i32;
            if sign == b'-' { -secs } else { secs }
        }
        _ => return Err("expected 'Z' or an offset like +01:00"),
    };
    if at != b.len() {
        return Err("unexpected text after the offset");
    }
    if hour > 23 {
        return Err("hour out of range");
    }
    if minute > 59 {
        return Err("minutes out of range");
    }
    if second > 59 {
        return Err("seconds out of range");
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month, day).ok_or("no such date")?;
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos).ok_or("no such time")?;
    let offset = FixedOffset::east_opt(offset_secs).ok_or("offset out of range")?;
    let local = date.and_time(time);
    let at = offset
        .from_local_datetime(&local)
        .single()
        .ok_or("no such local time")?;
    Ok(Timestamp(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_layout_round_trips() {
        for text in [
            "2026-11-21T10:15:30.123456789+01:00",
            "2026-11-21T10:15:30.1Z",
            "2026-11-21T10:15:30Z",
            "0001-01-01T00:00:00Z",
            "2026-01-02T03:04:05.5-07:30",
        ] {
            let ts = Timestamp::parse(text).unwrap();
            assert_eq!(ts.to_rfc3339_nano().unwrap(), text);
        }
    }

    #[test]
    fn trailing_zeros_are_dropped_and_extra_digits_truncated() {
        let ts = Timestamp::parse("2026-11-21T10:15:30.120000000Z").unwrap();
        assert_eq!(ts.to_string(), "2026-11-21T10:15:30.12Z");
        let ts = Timestamp::parse("2026-11-21T10:15:30.1234567891234Z").unwrap();
        assert_eq!(ts.to_string(), "2026-11-21T10:15:30.123456789Z");
        let ts = Timestamp::parse("2026-11-21T10:15:30+00:00").unwrap();
        assert_eq!(ts.to_string(), "2026-11-21T10:15:30Z");
    }

    #[test]
    fn zero_time_is_default_and_detected_with_any_offset() {
        assert!(Timestamp::default().is_zero());
        assert_eq!(Timestamp::zero().to_string(), "0001-01-01T00:00:00Z");
        assert!(
            Timestamp::parse("0001-01-01T01:00:00+01:00")
                .unwrap()
                .is_zero()
        );
        assert!(!Timestamp::now().is_zero());
    }

    #[test]
    fn malformed_timestamps_say_what_is_wrong() {
        for (text, reason) in [
            ("", "expected a four-digit year"),
            ("2026-11-21 10:15:30Z", "expected 'T' between date and time"),
            (
                "2026-11-21T10:15:30",
                "expected 'Z' or an offset like +01:00",
            ),
            ("2026-13-21T10:15:30Z", "no such date"),
            ("2026-02-30T10:15:30Z", "no such date"),
            ("2026-11-21T24:00:00Z", "hour out of range"),
            ("2026-11-21T10:15:60Z", "seconds out of range"),
            ("2026-11-21T10:15:30.Z", "expected digits after '.'"),
            (
                "2026-11-21T10:15:30Zjunk",
                "unexpected text after the offset",
            ),
            (
                "2026-11-21T10:15:30+1:00",
                "expected a two-digit offset hour",
            ),
            ("2026-11-21T10:15:30+24:00", "offset out of range"),
            ("２０２６-11-21T10:15:30Z", "expected a four-digit year"),
        ] {
            match Timestamp::parse(text) {
                Err(Error::InvalidTimestamp { reason: got, .. }) => {
                    assert_eq!(got, reason, "for {text:?}")
                }
                other => panic!("{text:?}: expected an error, got {other:?}"),
            }
        }
    }

    #[test]
    fn offsets_with_seconds_become_utc() {
        let odd = FixedOffset::east_opt(3601).unwrap();
        let at = odd.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let ts = Timestamp::from_datetime(at);
        assert_eq!(ts.to_string(), "2026-01-01T10:59:59Z");
    }
}
