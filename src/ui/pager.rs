//! Previous and next links under a paged table, with where the reader is.
use leptos::prelude::*;

use crate::i18n::*;

/// `href(page)` makes the address of a page; `current` counts from 1. With `more`, `total` is
/// what was counted and more follow (a search not counted to its end): the pager says "more
/// than" and always leads on.
#[component]
pub fn Pager(
    current: u64,
    pages: u64,
    total: u64,
    href: impl Fn(u64) -> String,
    #[prop(optional)] more: bool,
) -> impl IntoView {
    let i18n = use_i18n();
    let prev = (current > 1).then(|| href(current - 1));
    let next = (more || current < pages).then(|| href(current + 1));
    let position = if more {
        t!(
            i18n,
            licenses.page_of_more,
            page = move || current,
            total = move || total
        )
        .into_any()
    } else {
        t!(
            i18n,
            licenses.page_of,
            page = move || current,
            pages = move || pages,
            total = move || total
        )
        .into_any()
    };
    view! {
        <nav class="pager" aria-label=move || t_string!(i18n, licenses.pages).to_string()>
            {prev
                .map(|p| {
                    view! {
                        <a href=p rel="prev">
                            {t!(i18n, licenses.previous)}
                        </a>
                    }
                })}
            <span>{position}</span>
            {next
                .map(|p| {
                    view! {
                        <a href=p rel="next">
                            {t!(i18n, licenses.next)}
                        </a>
                    }
                })}
        </nav>
    }
}
