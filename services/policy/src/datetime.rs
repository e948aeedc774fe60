//! A small ISO 8601 reader: enough to type-check `DateTime` parameters and to order date strings in the
//! `less`/`greater` conditions, without a date crate.
//!
//! Accepted: `YYYY-MM-DD`, optionally `THH:MM`, `:SS`, `.fraction`, and `Z` or `±HH:MM` (no offset means UTC).

/// Nanoseconds since 1970-01-01T00:00:00Z of an ISO 8601 date or date-time, or `None` if `text` is not one.
pub(crate) fn parse_iso8601(text: &str) -> Option<i128> {
    let bytes = text.as_bytes();
    let mut at = 0;
    let year = digits(bytes, &mut at, 4)? as i64;
    expect(bytes, &mut at, b'-')?;
    let month = digits(bytes, &mut at, 2)?;
    expect(bytes, &mut at, b'-')?;
    let day = digits(bytes, &mut at, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut seconds_of_day: i64 = 0;
    let mut nanos: i128 = 0;
    let mut offset_seconds: i64 = 0;
    if at < bytes.len() {
        if bytes[at] != b'T' && bytes[at] != b't' && bytes[at] != b' ' {
            return None;
        }
        at += 1;
        let hour = digits(bytes, &mut at, 2)?;
        expect(bytes, &mut at, b':')?;
        let minute = digits(bytes, &mut at, 2)?;
        let mut second = 0;
        if bytes.get(at) == Some(&b':') {
            at += 1;
            second = digits(bytes, &mut at, 2)?;
            if bytes.get(at) == Some(&b'.') {
                at += 1;
                let start = at;
                while at < bytes.len() && bytes[at].is_ascii_digit() {
                    at += 1;
                }
                let fraction = &text[start..at];
                if fraction.is_empty() {
                    return None;
                }
                // Keep nanosecond precision; further digits do not change the order of real timestamps.
                let padded: String = fraction.chars().chain(std::iter::repeat('0')).take(9).collect();
                nanos = padded.parse::<i128>().ok()?;
            }
        }
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        seconds_of_day = i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
        match bytes.get(at) {
            None => {}
            Some(b'Z') | Some(b'z') => at += 1,
            Some(&sign @ (b'+' | b'-')) => {
                at += 1;
                let offset_hours = digits(bytes, &mut at, 2)?;
                expect(bytes, &mut at, b':')?;
                let offset_minutes = digits(bytes, &mut at, 2)?;
                offset_seconds = i64::from(offset_hours) * 3600 + i64::from(offset_minutes) * 60;
                if sign == b'-' {
                    offset_seconds = -offset_seconds;
                }
            }
            Some(_) => return None,
        }
    }
    if at != bytes.len() {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + seconds_of_day - offset_seconds;
    Some(i128::from(seconds) * 1_000_000_000 + nanos)
}

fn digits(bytes: &[u8], at: &mut usize, count: usize) -> Option<u32> {
    let slice = bytes.get(*at..*at + count)?;
    if !slice.iter().all(u8::is_ascii_digit) {
        return None;
    }
    *at += count;
    Some(slice.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
}

fn expect(bytes: &[u8], at: &mut usize, byte: u8) -> Option<()> {
    (bytes.get(*at) == Some(&byte)).then(|| *at += 1)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_iso8601;

    #[test]
    fn reads_dates_and_date_times() {
        assert_eq!(parse_iso8601("1970-01-01"), Some(0));
        assert_eq!(parse_iso8601("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(parse_iso8601("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(
            parse_iso8601("2000-02-29T12:00:00.5Z"),
            Some(951_825_600_500_000_000)
        );
        assert!(parse_iso8601("2021-02-29").is_none());
        assert!(parse_iso8601("2021-13-01").is_none());
        assert!(parse_iso8601("yesterday").is_none());
        assert!(parse_iso8601("2021-01-01T10:00:00Zjunk").is_none());
    }

    #[test]
    fn orders_across_offsets() {
        let earlier = parse_iso8601("2024-05-01T10:00:00+02:00").unwrap();
        let later = parse_iso8601("2024-05-01T09:00:00Z").unwrap();
        assert!(earlier < later);
    }
}
