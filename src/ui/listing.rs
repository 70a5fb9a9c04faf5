//! What every listing's server function accepts, checked there and not only in the page: a page
//! number from 1 to [`MAX_PAGE`] (its offset computed without overflow), and search text of at
//! most [`MAX_SEARCH`] characters.
use crate::error::{AppError, Field, Problem};

/// The last page a listing is read to: far past any real listing (a million pages of 50 rows),
/// and small enough that no offset overflows, in Rust or in the database's `BIGINT`.
pub const MAX_PAGE: u64 = 1_000_000;

/// The longest search text a listing takes, in characters.
pub const MAX_SEARCH: usize = 200;

/// The rows before page `page` (from 1) of `size` rows each; a page outside 1..=[`MAX_PAGE`] is
/// refused (400), never wrapped or saturated into a query the database cannot run.
pub fn offset(page: u64, size: u64) -> Result<u64, AppError> {
    let refused = || {
        AppError::invalid(
            Field::Page,
            Problem::OutOfRange {
                min: 1,
                max: MAX_PAGE as u32,
            },
        )
    };
    if !(1..=MAX_PAGE).contains(&page) {
        return Err(refused());
    }
    (page - 1)
        .checked_mul(size)
        .filter(|o| i64::try_from(*o).is_ok())
        .ok_or_else(refused)
}

/// `page` if given (else 1), checked as [`offset`] checks it.
pub fn page(page: Option<u64>) -> Result<u64, AppError> {
    let page = page.unwrap_or(1);
    offset(page, 1)?;
    Ok(page)
}

/// Search text as typed, trimmed; longer than [`MAX_SEARCH`] characters is refused (400).
pub fn search(text: &str) -> Result<&str, AppError> {
    let text = text.trim();
    if text.chars().count() > MAX_SEARCH {
        return Err(AppError::invalid(
            Field::Search,
            Problem::TooLong {
                max: MAX_SEARCH as u32,
            },
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_from_one_to_the_last_have_their_offsets() {
        assert_eq!(offset(1, 50).unwrap(), 0);
        assert_eq!(offset(3, 50).unwrap(), 100);
        assert_eq!(offset(MAX_PAGE, 50).unwrap(), (MAX_PAGE - 1) * 50);
    }

    #[test]
    fn pages_out_of_range_are_refused_not_wrapped() {
        for page in [
            0,
            MAX_PAGE + 1,
            u64::MAX / 50 + 1,
            i64::MAX as u64,
            u64::MAX,
        ] {
            assert!(
                matches!(
                    offset(page, 50),
                    Err(AppError::Invalid {
                        field: Field::Page,
                        ..
                    })
                ),
                "{page}"
            );
        }
        assert!(page(Some(u64::MAX)).is_err());
        assert_eq!(page(None).unwrap(), 1);
    }

    #[test]
    fn search_text_is_bounded() {
        assert_eq!(search("  ivan ").unwrap(), "ivan");
        assert!(search(&"я".repeat(MAX_SEARCH)).is_ok());
        assert!(search(&"я".repeat(MAX_SEARCH + 1)).is_err());
    }
}
