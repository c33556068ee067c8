//! The SLO endpoints: `GET /api/v1/slos` (and `/api/v1/slos/{name}`) with each
//! SLO's windows, burn rates, budget and alerts; Prometheus-format
//! `GET /api/v1/alerts` and `GET /api/v1/rules` (what Grafana's Prometheus data
//! source reads for alert state).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use toolpulse_slo::alerts::rules::{self, BUDGET_EXHAUSTED, BURN_RATE, NO_DATA};
use toolpulse_slo::alerts::{Alert, AlertState};
use toolpulse_slo::duration_text::human;
use toolpulse_slo::notify::payload::rfc3339;
use toolpulse_slo::{SloEngine, SloSpec, SloStatus};

pub fn router(engine: SloEngine) -> Router {
    Router::new()
        .route("/api/v1/slos", get(list))
        .route("/api/v1/slos/{name}", get(one))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/rules", get(rules_api))
        .with_state(engine)
}

fn ok(data: Value) -> Response {
    axum::Json(json!({"status": "success", "data": data})).into_response()
}

async fn list(State(e): State<SloEngine>) -> Response {
    let last = e.last();
    let alerts = e.alerts();
    ok(Value::Array(e.specs().iter().map(|s| slo_json(s, last.statuses.iter().find(|st| st.slo == s.name), &alerts)).collect()))
}

async fn one(State(e): State<SloEngine>, Path(name): Path<String>) -> Response {
    let Some(spec) = e.specs().iter().find(|s| s.name == name) else {
        let body = json!({"status": "error", "errorType": "not_found", "error": format!("no SLO named {name}")});
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    };
    let last = e.last();
    ok(slo_json(spec, last.statuses.iter().find(|st| st.slo == name), &e.alerts()))
}

fn slo_json(spec: &SloSpec, status: Option<&SloStatus>, alerts: &[Alert]) -> Value {
    let mine: Vec<Value> = alerts.iter().filter(|a| a.slo() == spec.name).map(alert_json).collect();
    json!({
        "name": spec.name,
        "description": spec.description,
        "sli": spec.sli.kind_name(),
        "objective": spec.objective,
        "period": match spec.period {
            toolpulse_slo::spec::Period::Rolling(d) => human(d),
            toolpulse_slo::spec::Period::CalendarMonth => "calendar_month".into(),
        },
        "selector": spec.selector.promql_matchers(),
        "labels": spec.labels,
        "source": spec.source,
        "status": status,
        "alerts": mine,
    })
}

fn alert_state(a: &Alert) -> &'static str {
    match a.state {
        AlertState::Pending => "pending",
        AlertState::Firing => "firing",
        AlertState::Resolved => "inactive",
    }
}

/// Prometheus writes alert values with Go's `%e`-style shortest form.
pub fn go_exp(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() { "NaN".into() } else if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let s = format!("{v:e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

fn alert_json(a: &Alert) -> Value {
    json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "state": alert_state(a),
        "activeAt": rfc3339(a.active_at_ms),
        "value": go_exp(a.value),
    })
}

async fn alerts(State(e): State<SloEngine>) -> Response {
    let active: Vec<Value> = e.alerts().iter().filter(|a| a.state != AlertState::Resolved).map(alert_json).collect();
    ok(json!({ "alerts": active }))
}

/// Filters Prometheus's rules API takes.
#[derive(Deserialize, Default)]
struct RulesQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default, rename = "rule_name[]")]
    rule_name: Vec<String>,
    #[serde(default, rename = "rule_group[]")]
    rule_group: Vec<String>,
}

async fn rules_api(State(e): State<SloEngine>, raw: axum::extract::RawQuery) -> Response {
    // `rule_name[]` repeats, which serde_urlencoded only reads as pairs.
    let pairs: Vec<(String, String)> = raw.0.as_deref().map(|q| serde_urlencoded::from_str(q).unwrap_or_default()).unwrap_or_default();
    let mut q = RulesQuery::default();
    for (k, v) in pairs {
        match k.as_str() {
            "type" => q.kind = Some(v),
            "rule_name[]" => q.rule_name.push(v),
            "rule_group[]" => q.rule_group.push(v),
            _ => {}
        }
    }
    if q.kind.as_deref() == Some("record") {
        return ok(json!({ "groups": [] }));
    }
    let last = e.last();
    let alerts = e.alerts();
    let interval = e.config().interval.as_secs_f64();
    let groups: Vec<Value> = e
        .specs()
        .iter()
        .filter(|s| q.rule_group.is_empty() || q.rule_group.contains(&s.name))
        .map(|s| {
            let rules: Vec<Value> = rule_defs(s)
                .into_iter()
                .filter(|r| q.rule_name.is_empty() || q.rule_name.contains(&r.name))
                .map(|r| {
                    let mine: Vec<&Alert> = alerts.iter().filter(|a| a.labels == r.labels && a.state != AlertState::Resolved).collect();
                    let state = if mine.iter().any(|a| a.state == AlertState::Firing) {
                        "firing"
                    } else if mine.is_empty() {
                        "inactive"
                    } else {
                        "pending"
                    };
                    json!({
                        "state": state,
                        "name": r.name,
                        "query": r.query,
                        "duration": r.for_secs,
                        "keepFiringFor": 0,
                        "labels": r.labels,
                        "annotations": s.alerting.annotations,
                        "alerts": mine.iter().map(|a| alert_json(a)).collect::<Vec<_>>(),
                        "health": "ok",
                        "evaluationTime": last.took.as_secs_f64(),
                        "lastEvaluation": rfc3339(last.at_ms),
                        "type": "alerting",
                    })
                })
                .collect();
            json!({
                "name": s.name,
                "file": s.source,
                "rules": rules,
                "interval": interval,
                "limit": 0,
                "evaluationTime": last.took.as_secs_f64(),
                "lastEvaluation": rfc3339(last.at_ms),
            })
        })
        .filter(|g| !g["rules"].as_array().is_some_and(Vec::is_empty))
        .collect();
    ok(json!({ "groups": groups }))
}

struct RuleDef {
    name: String,
    labels: toolpulse_slo::alerts::Labels,
    query: String,
    for_secs: f64,
}

/// The alerting rules of one SLO, written as the PromQL they are equivalent to
/// over toolpulse's SLO series.
fn rule_defs(s: &SloSpec) -> Vec<RuleDef> {
    let burn = |w: std::time::Duration| format!("toolpulse_slo_burn_rate{{slo=\"{}\",window=\"{}\"}}", s.name, human(w));
    let mut out = Vec::new();
    for sev in rules::severities(s) {
        let query = s
            .alerting
            .windows
            .iter()
            .filter(|w| w.severity == sev)
            .map(|w| format!("({} > {} and {} > {})", burn(w.long), w.factor, burn(w.short), w.factor))
            .collect::<Vec<_>>()
            .join(" or ");
        out.push(RuleDef { name: BURN_RATE.into(), labels: rules::labels(s, BURN_RATE, &sev), query, for_secs: s.alerting.for_.as_secs_f64() });
    }
    if let Some(sev) = &s.alerting.budget_exhausted {
        let query = format!("toolpulse_slo_error_budget_remaining{{slo=\"{}\"}} <= 0", s.name);
        out.push(RuleDef { name: BUDGET_EXHAUSTED.into(), labels: rules::labels(s, BUDGET_EXHAUSTED, sev), query, for_secs: 0.0 });
    }
    if let Some(n) = &s.alerting.no_data {
        let query = format!("absent_over_time(toolpulse_tool_calls_total{{{}}}[{}])", s.selector.promql_matchers(), human(n.after));
        out.push(RuleDef { name: NO_DATA.into(), labels: rules::labels(s, NO_DATA, &n.severity), query, for_secs: 0.0 });
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn go_style_exponents() {
        assert_eq!(super::go_exp(20.0), "2e+01");
        assert_eq!(super::go_exp(0.5), "5e-01");
        assert_eq!(super::go_exp(16.5), "1.65e+01");
        assert_eq!(super::go_exp(0.0), "0e+00");
    }
}
