//! Settings > Usage: what was in use, owned and refused over a period, as charts drawn on the
//! server (SVG, each with its data table) and a right-sizing table per pool; a GET filter form
//! and the downloads, all plain forms and links (the view lives in the address).
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::api::get_usage;
use super::model::{Period, Point, PoolUse, UsageFilter, UsageReport};
use crate::i18n::*;
use crate::ui::dates::{DayField, format_date_ms, format_time_ms};
use crate::ui::errors::ErrorMessage;

#[component]
pub fn UsagePage() -> impl IntoView {
    let i18n = use_i18n();
    let query_map = use_query_map();
    let filter = Memo::new(move |_| {
        let map = query_map.read();
        UsageFilter::from_params(|k| map.get(k))
    });
    let report = Resource::new(move || filter.get(), get_usage);
    view! {
        <div class="page wide">
            <nav class="breadcrumbs" aria-label="breadcrumbs">
                <span>{t!(i18n, nav.settings)}</span>
                " > "
                <span>{t!(i18n, nav.usage)}</span>
            </nav>
            <h1>{t!(i18n, usage.title)}</h1>
            <p class="muted">{t!(i18n, usage.intro)}</p>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match report.await {
                        Err(err) => {
                            view! {
                                <Filters filter=filter.get_untracked() report=None />
                                <ErrorMessage err />
                            }
                                .into_any()
                        }
                        Ok(r) => {
                            view! {
                                <Filters filter=filter.get_untracked() report=Some(r.clone()) />
                                <Downloads filter=filter.get_untracked() />
                                <Report report=r />
                            }
                                .into_any()
                        }
                    }
                })}
            </Transition>
        </div>
    }
}

/// The filter: a GET form, so it works without JavaScript.
#[component]
fn Filters(filter: UsageFilter, report: Option<UsageReport>) -> impl IntoView {
    let i18n = use_i18n();
    let chosen = report.as_ref().map_or(Period::Week, |r| r.period);
    let (tenants, tenant) = report
        .as_ref()
        .map(|r| (r.tenants.clone(), r.tenant.clone()))
        .unwrap_or_default();
    let (products, product) = report
        .as_ref()
        .map(|r| (r.products.clone(), r.product.clone()))
        .unwrap_or_default();
    // A License manager has one tenant: theirs, chosen.
    let every_tenant = tenants.len() != 1;
    view! {
        <form class="filters" method="get" action="/settings/usage" role="search">
            <label for="usage-period">{t!(i18n, usage.period)}</label>
            <select id="usage-period" name="period">
                {Period::ALL
                    .into_iter()
                    .map(|p| {
                        view! {
                            <option value=p.as_str() selected=p == chosen>
                                <PeriodName period=p />
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            <label for="usage-from">{t!(i18n, usage.from)}</label>
            <DayField id="usage-from" name="from" value=filter.from.clone() />
            <label for="usage-to">{t!(i18n, usage.to)}</label>
            <DayField id="usage-to" name="to" value=filter.to.clone() />
            <label for="usage-tenant">{t!(i18n, usage.tenant)}</label>
            <select id="usage-tenant" name="tenant">
                {every_tenant
                    .then(|| {
                        view! {
                            <option value="" selected=tenant.is_none()>
                                {t!(i18n, usage.every_tenant)}
                            </option>
                        }
                    })}
                {tenants
                    .into_iter()
                    .map(|t| {
                        let selected = tenant.as_deref() == Some(t.id.as_str());
                        view! {
                            <option value=t.id selected=selected>
                                {t.name}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            <label for="usage-product">{t!(i18n, usage.product)}</label>
            <select id="usage-product" name="product">
                <option value="" selected=product.is_none()>
                    {t!(i18n, usage.every_product)}
                </option>
                {products
                    .into_iter()
                    .map(|p| {
                        let selected = product.as_deref() == Some(p.id.as_str());
                        view! {
                            <option value=p.id selected=selected>
                                {p.name}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            <button type="submit" class="button-quiet">{t!(i18n, usage.show)}</button>
        </form>
    }
}

#[component]
fn PeriodName(period: Period) -> impl IntoView {
    let i18n = use_i18n();
    match period {
        Period::Day => t!(i18n, usage.period_day).into_any(),
        Period::Week => t!(i18n, usage.period_week).into_any(),
        Period::Month => t!(i18n, usage.period_month).into_any(),
        Period::Year => t!(i18n, usage.period_year).into_any(),
        Period::Range => t!(i18n, usage.period_range).into_any(),
    }
}

#[component]
fn Downloads(filter: UsageFilter) -> impl IntoView {
    let i18n = use_i18n();
    let params = filter.to_params();
    let href = move |path: &str| format!("/settings/{path}?{params}");
    view! {
        <p class="downloads">
            <a class="button-quiet" href=href("usage.csv") download="tessera-usage.csv">
                {t!(i18n, usage.download_csv)}
            </a>
            " "
            <a class="button-quiet" href=href("usage-pools.csv") download="tessera-usage-pools.csv">
                {t!(i18n, usage.download_pools_csv)}
            </a>
            " "
            <a class="button-quiet" href=href("usage.json") download="tessera-usage.json">
                {t!(i18n, usage.download_json)}
            </a>
        </p>
    }
}

#[component]
fn Report(report: UsageReport) -> impl IntoView {
    let i18n = use_i18n();
    let UsageReport {
        from_ms,
        until_ms,
        span,
        points,
        pools,
        ..
    } = report;
    // Days are shown as dates; minutes and hours with their time.
    let timed = span != "day";
    let when = move |ms: i64| {
        if timed {
            format_time_ms(i18n.get_locale(), ms)
        } else {
            format_date_ms(i18n.get_locale(), ms)
        }
    };
    let floating = Chart {
        id: "floating",
        lines: vec![
            Line {
                class: "in-use",
                values: points.iter().map(|p| p.floating_peak).collect(),
            },
            Line {
                class: "owned",
                values: points.iter().map(|p| p.floating_owned).collect(),
            },
        ],
    };
    let refused = Chart {
        id: "refused",
        lines: vec![Line {
            class: "refused",
            values: points.iter().map(|p| p.refused).collect(),
        }],
    };
    let seats = Chart {
        id: "seats",
        lines: vec![
            Line {
                class: "in-use",
                values: points.iter().map(|p| p.seats_peak).collect(),
            },
            Line {
                class: "owned",
                values: points.iter().map(|p| p.seats_owned).collect(),
            },
        ],
    };
    let agents = Chart {
        id: "agents",
        lines: vec![
            Line {
                class: "in-use",
                values: points.iter().map(|p| p.agents_licensed).collect(),
            },
            Line {
                class: "owned",
                values: points.iter().map(|p| p.agents_registered).collect(),
            },
        ],
    };
    let (first, last) = (when(from_ms), when(until_ms));
    // The horizontal axis' ends, under each chart.
    let ends = (first.clone(), last.clone());
    let in_use = t_string!(i18n, usage.in_use_peak).to_string();
    let owned = t_string!(i18n, usage.owned).to_string();
    view! {
        <p class="muted" data-testid="usage-range">
            {t!(i18n, usage.range, from = move || first.clone(), to = move || last.clone())}
        </p>
        <section aria-labelledby="chart-floating-title">
            <h2 id="chart-floating-title">{t!(i18n, usage.floating_title)}</h2>
            <Svg
                chart=floating.clone()
                title=t_string!(i18n, usage.floating_title).to_string()
                unit=t_string!(i18n, usage.unit_licenses).to_string()
                ends=ends.clone()
            />
            <Legend keys=vec![("in-use", in_use.clone()), ("owned", owned.clone())] />
            <DataTable
                points=points.clone()
                columns=vec![
                    (t_string!(i18n, usage.in_use_peak).to_string(), |p: &Point| p.floating_peak),
                    (t_string!(i18n, usage.owned).to_string(), |p: &Point| p.floating_owned),
                ]
                when
                testid="floating-data"
            />
        </section>
        <section aria-labelledby="chart-refused-title">
            <h2 id="chart-refused-title">{t!(i18n, usage.refused_title)}</h2>
            <Svg
                chart=refused
                title=t_string!(i18n, usage.refused_title).to_string()
                unit=t_string!(i18n, usage.unit_checkouts).to_string()
                ends=ends.clone()
            />
            <DataTable
                points=points.clone()
                columns=vec![
                    (t_string!(i18n, usage.refused).to_string(), |p: &Point| p.refused),
                    (t_string!(i18n, usage.agents_refused).to_string(), |p: &Point| p.refused_agents),
                ]
                when
                testid="refused-data"
            />
        </section>
        <section aria-labelledby="chart-seats-title">
            <h2 id="chart-seats-title">{t!(i18n, usage.seats_title)}</h2>
            <Svg
                chart=seats
                title=t_string!(i18n, usage.seats_title).to_string()
                unit=t_string!(i18n, usage.unit_seats).to_string()
                ends=ends.clone()
            />
            <Legend keys=vec![
                ("in-use", t_string!(i18n, usage.held_peak).to_string()),
                ("owned", owned),
            ] />
            <DataTable
                points=points.clone()
                columns=vec![
                    (t_string!(i18n, usage.held_peak).to_string(), |p: &Point| p.seats_peak),
                    (t_string!(i18n, usage.owned).to_string(), |p: &Point| p.seats_owned),
                ]
                when
                testid="seats-data"
            />
        </section>
        <section aria-labelledby="chart-agents-title">
            <h2 id="chart-agents-title">{t!(i18n, usage.agents_title)}</h2>
            <Svg
                chart=agents
                title=t_string!(i18n, usage.agents_title).to_string()
                unit=t_string!(i18n, usage.unit_agents).to_string()
                ends
            />
            <Legend keys=vec![
                ("in-use", t_string!(i18n, usage.agents_licensed).to_string()),
                ("owned", t_string!(i18n, usage.agents_registered).to_string()),
            ] />
            <DataTable
                points
                columns=vec![
                    (t_string!(i18n, usage.agents_licensed).to_string(), |p: &Point| p.agents_licensed),
                    (t_string!(i18n, usage.agents_idle).to_string(), Point::agents_idle),
                    (t_string!(i18n, usage.agents_registered).to_string(), |p: &Point| p.agents_registered),
                ]
                when
                testid="agents-data"
            />
        </section>
        <section aria-labelledby="pools-title">
            <h2 id="pools-title">{t!(i18n, usage.pools_title)}</h2>
            <p class="muted">{t!(i18n, usage.pools_intro)}</p>
            <Pools pools />
        </section>
    }
}

/// One series of a chart, drawn as a line of its class.
#[derive(Clone)]
struct Line {
    class: &'static str,
    values: Vec<i64>,
}

#[derive(Clone)]
struct Chart {
    id: &'static str,
    lines: Vec<Line>,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 40.0;
const BOTTOM: f64 = 20.0;

/// The points of a step line through `values` scaled to `top`: a run of buckets holding the
/// same value is one horizontal segment, so a flat line costs two points however long it is.
fn polyline(values: &[i64], top: i64) -> String {
    use std::fmt::Write;
    let n = values.len().max(1) as f64;
    let step = (WIDTH - LEFT) / n;
    let y = |v: i64| HEIGHT - BOTTOM - (v as f64 / top.max(1) as f64) * (HEIGHT - BOTTOM - 8.0);
    let mut out = String::new();
    let mut first = 0;
    for run in values.chunk_by(|a, b| a == b) {
        let (x0, x1) = (
            LEFT + first as f64 * step,
            LEFT + (first + run.len()) as f64 * step,
        );
        let yv = y(run[0]);
        let _ = write!(out, "{x0:.1},{yv:.1} {x1:.1},{yv:.1} ");
        first += run.len();
    }
    out.truncate(out.trim_end().len());
    out
}

/// A chart as SVG: each line, the vertical scale's top and zero; the figure's title is read out,
/// the table beside it holds the figures.
#[component]
fn Svg(
    chart: Chart,
    title: String,
    /// What the vertical axis counts, in the page's language.
    unit: String,
    /// The first and last bucket, as the horizontal axis' ends.
    ends: (String, String),
) -> impl IntoView {
    let top = chart
        .lines
        .iter()
        .flat_map(|l| l.values.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let title_id = format!("svg-{}-title", chart.id);
    // The axes' labels sit outside the drawing, which stretches to the page's width.
    view! {
        <p class="chart-unit">{unit}</p>
        <svg
            class="chart"
            viewBox=format!("0 0 {WIDTH} {HEIGHT}")
            role="img"
            aria-labelledby=title_id.clone()
            data-testid=format!("chart-{}", chart.id)
            preserveAspectRatio="none"
        >
            <title id=title_id.clone()>{title}</title>
            <line class="axis" x1=LEFT y1=HEIGHT - BOTTOM x2=WIDTH y2=HEIGHT - BOTTOM />
            <line class="axis" x1=LEFT y1="8" x2=LEFT y2=HEIGHT - BOTTOM />
            <text class="tick" x=LEFT - 6.0 y="14" text-anchor="end">
                {top}
            </text>
            <text class="tick" x=LEFT - 6.0 y=HEIGHT - BOTTOM text-anchor="end">
                "0"
            </text>

            {chart
                .lines
                .into_iter()
                .map(|l| {
                    view! { <polyline class=format!("series {}", l.class) points=polyline(&l.values, top) /> }
                })
                .collect_view()}
        </svg>
        <p class="chart-ends">
            <span>{ends.0}</span>
            <span>{ends.1}</span>
        </p>
    }
}

/// What each line of a chart is: a key of the line's class, and its label.
#[component]
fn Legend(keys: Vec<(&'static str, String)>) -> impl IntoView {
    view! {
        <p class="legend" aria-hidden="true">
            {keys
                .into_iter()
                .map(|(class, label)| {
                    view! {
                        <span class=format!("key {class}")></span>
                        {label}
                        " "
                    }
                })
                .collect_view()}
        </p>
    }
}

/// A column of a chart's figures: its heading, and its figure in a bucket.
type Column = (String, fn(&Point) -> i64);

/// The figures behind a chart, folded away: for screen readers, and for reading a value.
#[component]
fn DataTable(
    points: Vec<Point>,
    columns: Vec<Column>,
    when: impl Fn(i64) -> String + Copy + Send + Sync + 'static,
    testid: &'static str,
) -> impl IntoView {
    let i18n = use_i18n();
    let heads = columns.iter().map(|(h, _)| h.clone()).collect::<Vec<_>>();
    let rows = points
        .iter()
        .map(|p| {
            let cells = columns.iter().map(|(_, f)| f(p)).collect::<Vec<_>>();
            (p.start, cells)
        })
        .collect::<Vec<_>>();
    view! {
        <details class="data">
            <summary>{t!(i18n, usage.data_table)}</summary>
            <div class="table-scroll">
                <table class="grid" data-testid=testid>
                    <thead>
                        <tr>
                            <th scope="col">{t!(i18n, usage.when)}</th>
                            {heads.into_iter().map(|h| view! { <th scope="col">{h}</th> }).collect_view()}
                        </tr>
                    </thead>
                    <tbody>
                        {rows
                            .into_iter()
                            .map(|(start, cells)| {
                                view! {
                                    <tr>
                                        <th scope="row">{when(start)}</th>
                                        {cells.into_iter().map(|c| view! { <td>{c}</td> }).collect_view()}
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </div>
        </details>
    }
}

#[component]
fn Pools(pools: Vec<PoolUse>) -> impl IntoView {
    let i18n = use_i18n();
    if pools.is_empty() {
        return view! { <p class="muted" data-testid="no-pools">{t!(i18n, usage.no_pools)}</p> }
            .into_any();
    }
    view! {
        <div class="table-scroll">
            <table class="grid" data-testid="pools">
                <thead>
                    <tr>
                        <th scope="col">{t!(i18n, usage.pool)}</th>
                        <th scope="col">{t!(i18n, usage.product)}</th>
                        <th scope="col">{t!(i18n, usage.kind)}</th>
                        <th scope="col">{t!(i18n, usage.owned)}</th>
                        <th scope="col">{t!(i18n, usage.needed_peak)}</th>
                        <th scope="col">{t!(i18n, usage.needed_p95)}</th>
                        <th scope="col">{t!(i18n, usage.peak)}</th>
                        <th scope="col">{t!(i18n, usage.p95)}</th>
                        <th scope="col">{t!(i18n, usage.never_used)}</th>
                        <th scope="col">{t!(i18n, usage.at_capacity)}</th>
                        <th scope="col">{t!(i18n, usage.refused)}</th>
                        <th scope="col">{t!(i18n, usage.agents_refused_at_once)}</th>
                    </tr>
                </thead>
                <tbody>
                    {pools
                        .into_iter()
                        .map(|p| {
                            let kind = match p.kind.as_str() {
                                "floating" => t!(i18n, usage.kind_floating).into_any(),
                                "fixed" => t!(i18n, usage.kind_fixed).into_any(),
                                _ => t!(i18n, usage.kind_personal).into_any(),
                            };
                            let never_used = p.never_used();
                            let pool = match p.pool {
                                Some(t) => t.name.into_any(),
                                None => t!(i18n, usage.shared_pool).into_any(),
                            };
                            let short = p.needed_peak > p.owned;
                            view! {
                                <tr>
                                    <th scope="row">{pool}</th>
                                    <td>{p.product.name}</td>
                                    <td>{kind}</td>
                                    <td>{p.owned}</td>
                                    <td class:short=short>{p.needed_peak}</td>
                                    <td>{p.needed_p95}</td>
                                    <td>{p.peak}</td>
                                    <td>{p.p95}</td>
                                    <td>{never_used}</td>
                                    <td>{format!("{} %", p.at_capacity_pct)}</td>
                                    <td>{p.refused}</td>
                                    <td>{p.agents_refused}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_equal_buckets_is_one_segment() {
        let bottom = HEIGHT - BOTTOM;
        assert_eq!(
            polyline(&[0, 0, 0, 0], 1),
            format!("{LEFT:.1},{bottom:.1} {WIDTH:.1},{bottom:.1}")
        );
        let step = (WIDTH - LEFT) / 4.0;
        assert_eq!(
            polyline(&[1, 1, 0, 0], 1),
            format!(
                "{LEFT:.1},8.0 {:.1},8.0 {:.1},{bottom:.1} {WIDTH:.1},{bottom:.1}",
                LEFT + 2.0 * step,
                LEFT + 2.0 * step
            )
        );
        assert_eq!(polyline(&[], 1), "");
    }

    #[test]
    fn a_line_steps_through_each_bucket_scaled_to_the_top() {
        let line = polyline(&[0, 2], 2);
        let step = (WIDTH - LEFT) / 2.0;
        let bottom = HEIGHT - BOTTOM;
        assert_eq!(
            line,
            format!(
                "{LEFT:.1},{bottom:.1} {:.1},{bottom:.1} {:.1},8.0 {:.1},8.0",
                LEFT + step,
                LEFT + step,
                WIDTH
            )
        );
    }
}
