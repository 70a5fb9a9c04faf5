//! Dates in the reader's language: "November 22, 2026", "22 ноября 2026".
use chrono::Datelike;

use crate::i18n::*;

pub fn format_date(locale: Locale, date: chrono::NaiveDate) -> String {
    let month = match date.month() {
        1 => td_string!(locale, months.m1),
        2 => td_string!(locale, months.m2),
        3 => td_string!(locale, months.m3),
        4 => td_string!(locale, months.m4),
        5 => td_string!(locale, months.m5),
        6 => td_string!(locale, months.m6),
        7 => td_string!(locale, months.m7),
        8 => td_string!(locale, months.m8),
        9 => td_string!(locale, months.m9),
        10 => td_string!(locale, months.m10),
        11 => td_string!(locale, months.m11),
        _ => td_string!(locale, months.m12),
    };
    td_string!(
        locale,
        dates.pattern,
        day = date.day(),
        month = month,
        year = date.year()
    )
    .to_string()
}

/// A Unix-millisecond time as a date in `locale`, in UTC.
pub fn format_date_ms(locale: Locale, ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| format_date(locale, t.date_naive()))
        .unwrap_or_default()
}

/// A Unix-millisecond time as a date and a UTC clock time: "November 22, 2026 14:05 UTC".
pub fn format_time_ms(locale: Locale, ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            format!(
                "{} {} UTC",
                format_date(locale, t.date_naive()),
                t.format("%H:%M")
            )
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn dates_follow_the_language() {
        assert_eq!(
            format_date(Locale::en, day(2026, 11, 22)),
            "November 22, 2026"
        );
        assert_eq!(format_date(Locale::ru, day(2026, 11, 22)), "22 ноября 2026");
        assert_eq!(format_date(Locale::ru, day(2027, 3, 1)), "1 марта 2027");
        assert_eq!(
            format_date(Locale::en, day(2028, 2, 29)),
            "February 29, 2028"
        );
    }

    #[test]
    fn russian_plurals_take_all_three_forms() {
        let minutes =
            |n: i32| td_string!(Locale::ru, errors.too_many_attempts, count = n).to_string();
        assert!(minutes(1).ends_with("через 1 минуту."), "{}", minutes(1));
        assert!(minutes(2).ends_with("через 2 минуты."), "{}", minutes(2));
        assert!(minutes(5).ends_with("через 5 минут."), "{}", minutes(5));
        assert!(minutes(11).ends_with("через 11 минут."), "{}", minutes(11));
        assert!(minutes(21).ends_with("через 21 минуту."), "{}", minutes(21));
        assert!(minutes(24).ends_with("через 24 минуты."), "{}", minutes(24));
        let en = |n: i32| td_string!(Locale::en, errors.too_many_attempts, count = n).to_string();
        assert!(en(1).ends_with("in 1 minute."));
        assert!(en(15).ends_with("in 15 minutes."));
    }
}
