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

/// A Unix-millisecond time as a date and a clock time in the reader's time zone, saying which:
/// "November 22, 2026 14:05 UTC", or "November 22, 2026 17:05 MSK" for a reader who chose
/// Europe/Moscow on Your account.
pub fn format_time_ms(locale: Locale, ms: i64) -> String {
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
        return String::new();
    };
    #[cfg(feature = "ssr")]
    if let Some(zone) = reader_zone() {
        let local = t.with_timezone(&zone);
        return format!(
            "{} {}",
            format_date(locale, local.date_naive()),
            local.format("%H:%M %Z")
        );
    }
    format!(
        "{} {} UTC",
        format_date(locale, t.date_naive()),
        t.format("%H:%M")
    )
}

/// The time zone the reader of the page being rendered chose, if any. Only the server renders
/// times (no island shows one), so only the server knows the reader's zone.
#[cfg(feature = "ssr")]
fn reader_zone() -> Option<chrono_tz::Tz> {
    let who = crate::auth::server::current()?;
    who.viewer().time_zone.as_deref()?.parse().ok()
}

/// Every time zone a reader may choose, by IANA name (empty on the client, which renders no
/// choice of them: Your account is rendered on the server).
pub fn time_zone_names() -> Vec<&'static str> {
    #[cfg(feature = "ssr")]
    {
        chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect()
    }
    #[cfg(not(feature = "ssr"))]
    {
        Vec::new()
    }
}

/// A day as people type it in `locale`: "2026-12-05" in English (never the ambiguous
/// "12/05/2026"), "05.12.2026" in Russian.
pub fn day_as_typed(locale: Locale, day: chrono::NaiveDate) -> String {
    match locale {
        Locale::ru => day.format("%d.%m.%Y").to_string(),
        _ => day.format("%Y-%m-%d").to_string(),
    }
}

/// A day typed in either language's form: `YYYY-MM-DD` or `DD.MM.YYYY` (one-digit day and month
/// too), surrounding blanks ignored.
pub fn parse_typed_day(raw: &str) -> Option<chrono::NaiveDate> {
    let raw = raw.trim();
    let iso = raw.len() == 10 && raw.as_bytes().get(4) == Some(&b'-');
    if iso {
        return chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok();
    }
    let mut parts = raw.split('.');
    let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
    let small = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    if parts.next().is_some() || !small(d, 2) || !small(m, 2) || y.len() != 4 || !small(y, 4) {
        return None;
    }
    chrono::NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

/// A day field of a filter, in the page's language: the day is shown and typed as the reader
/// writes days (`browser date inputs follow the browser's language, not the page's`), and the
/// server reads either form ([`parse_typed_day`]).
#[leptos::component]
pub fn DayField(
    id: &'static str,
    name: &'static str,
    #[prop(into)] value: leptos::prelude::Signal<Option<String>>,
) -> impl leptos::IntoView {
    use leptos::prelude::*;
    let i18n = use_i18n();
    let shown = move || {
        let value = value.get().unwrap_or_default();
        match parse_typed_day(&value) {
            Some(day) => day_as_typed(i18n.get_locale(), day),
            None => value,
        }
    };
    let hint = move || t_string!(i18n, dates.typed_hint).to_string();
    view! {
        <input
            id=id
            type="text"
            name=name
            inputmode="numeric"
            autocomplete="off"
            size="10"
            value=shown
            placeholder=hint
            title=hint
        />
    }
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
    fn days_are_typed_as_each_language_writes_them() {
        let d = day(2026, 12, 5);
        assert_eq!(day_as_typed(Locale::en, d), "2026-12-05");
        assert_eq!(day_as_typed(Locale::ru, d), "05.12.2026");
        for typed in ["2026-12-05", "05.12.2026", "5.12.2026", " 05.12.2026 "] {
            assert_eq!(parse_typed_day(typed), Some(d), "{typed}");
        }
        for bad in [
            "12/05/2026",
            "2026-13-01",
            "31.02.2026",
            "05.12.26",
            "1.2.3.2026",
            "",
            "2026-1-5",
        ] {
            assert_eq!(parse_typed_day(bad), None, "{bad}");
        }
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
