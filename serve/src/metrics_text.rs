//! `/metrics`: the server's own counters, in the format the scraper asks for.
//! Prometheus asks for OpenMetrics (its `Accept` header names
//! `application/openmetrics-text`) and gets it as the registry writes it; any
//! other client (`curl | promtool check metrics`, older agents) gets the
//! Prometheus text format 0.0.4, whose counter families are named with their
//! `_total` and which has no `# EOF`.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::registry::Registry;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The answer to a scrape of `registry`.
pub fn scrape(registry: &Registry, headers: &HeaderMap) -> Response {
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, registry) {
        return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
    }
    let wants_openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| accepts(range, "application/openmetrics-text"));
    if wants_openmetrics {
        ([(header::CONTENT_TYPE, OPENMETRICS)], out).into_response()
    } else {
        ([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], to_prometheus_text(&out)).into_response()
    }
}

/// Whether one media range of an `Accept` header is `media_type` with a
/// non-zero quality.
fn accepts(range: &str, media_type: &str) -> bool {
    let mut parts = range.split(';').map(str::trim);
    if !parts.next().is_some_and(|t| t.eq_ignore_ascii_case(media_type)) {
        return false;
    }
    let refused = parts.filter_map(|p| p.strip_prefix("q=")).any(|q| q.parse::<f32>().is_ok_and(|q| q <= 0.0));
    !refused
}

/// OpenMetrics text as the Prometheus text format 0.0.4: a counter family is
/// named by its samples' `_total` name, `unknown` is `untyped`, and the
/// `# UNIT` and `# EOF` lines go (0.0.4 has neither). Samples are the same in
/// both formats.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // In each family the registry writes `# HELP` before `# TYPE`, and only
    // the type says whether the family is renamed: a family's comment lines
    // wait here until its type is known.
    let mut help: Option<&str> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            if let Some(h) = help.replace(rest) {
                push_help(&mut out, h, None);
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let name = match kind {
                "counter" => format!("{}_total", name.strip_suffix("_total").unwrap_or(name)),
                _ => name.to_owned(),
            };
            if let Some(h) = help.take() {
                push_help(&mut out, h, Some(&name));
            }
            let kind = if kind == "unknown" { "untyped" } else { kind };
            out.push_str(&format!("# TYPE {name} {kind}\n"));
        } else if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        } else {
            if let Some(h) = help.take() {
                push_help(&mut out, h, None);
            }
            out.push_str(line);
            out.push('\n');
        }
    }
    if let Some(h) = help {
        push_help(&mut out, h, None);
    }
    out
}

/// A `# HELP` line (`rest` is its name and text), under `name` when the family
/// was renamed.
fn push_help(out: &mut String, rest: &str, name: Option<&str>) {
    let text = rest.split_once(' ').map_or("", |(_, t)| t);
    let name = name.unwrap_or_else(|| rest.split_once(' ').map_or(rest, |(n, _)| n));
    out.push_str(&format!("# HELP {name} {text}\n"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::metrics::histogram::Histogram;

    fn registry() -> Registry {
        let mut r = Registry::default();
        let events: Counter = Counter::default();
        events.inc_by(3);
        r.register("toolpulse_events", "Events accepted", events);
        let lag: Gauge = Gauge::default();
        lag.set(7);
        r.register("toolpulse_lag", "Messages behind", lag);
        let flush = Histogram::new([0.1, 1.0]);
        flush.observe(0.5);
        r.register("toolpulse_flush_seconds", "Flush time", flush);
        r
    }

    fn scraped(accept: Option<&str>) -> (String, String) {
        let mut headers = HeaderMap::new();
        if let Some(a) = accept {
            headers.insert(header::ACCEPT, a.parse().unwrap());
        }
        let r = scrape(&registry(), &headers);
        let content_type = r.headers()[header::CONTENT_TYPE].to_str().unwrap().to_owned();
        let body = futures::executor::block_on(axum::body::to_bytes(r.into_body(), 1 << 20)).unwrap();
        (content_type, String::from_utf8(body.to_vec()).unwrap())
    }

    #[test]
    fn prometheus_gets_openmetrics() {
        // Prometheus 2.42's scrape `Accept` header.
        let accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        let (content_type, body) = scraped(Some(accept));
        assert_eq!(content_type, OPENMETRICS);
        assert!(body.contains("# TYPE toolpulse_events counter\ntoolpulse_events_total 3\n"), "{body}");
        assert!(body.ends_with("# EOF\n"));
    }

    #[test]
    fn other_clients_get_the_prometheus_text_format() {
        for accept in [None, Some("*/*"), Some("text/plain"), Some("application/openmetrics-text;q=0")] {
            let (content_type, body) = scraped(accept);
            assert_eq!(content_type, PROMETHEUS_TEXT, "{accept:?}");
            let expected = "# HELP toolpulse_events_total Events accepted.\n\
                            # TYPE toolpulse_events_total counter\n\
                            toolpulse_events_total 3\n\
                            # HELP toolpulse_lag Messages behind.\n\
                            # TYPE toolpulse_lag gauge\n\
                            toolpulse_lag 7\n\
                            # HELP toolpulse_flush_seconds Flush time.\n\
                            # TYPE toolpulse_flush_seconds histogram\n\
                            toolpulse_flush_seconds_sum 0.5\n\
                            toolpulse_flush_seconds_count 1\n\
                            toolpulse_flush_seconds_bucket{le=\"0.1\"} 0\n\
                            toolpulse_flush_seconds_bucket{le=\"1.0\"} 1\n\
                            toolpulse_flush_seconds_bucket{le=\"+Inf\"} 1\n";
            assert_eq!(body, expected, "{accept:?}");
        }
    }
}
