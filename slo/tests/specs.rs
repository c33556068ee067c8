//! SLO specs: the shipped examples load (both formats), and each kind of mistake
//! is reported with its file, line and reason.

use std::path::Path;
use std::time::Duration;

use toolpulse_slo::spec::load::{SpecError, load_sources};
use toolpulse_slo::spec::{Budgeting, Period, Sli};

fn errors(text: &str) -> Vec<SpecError> {
    load_sources(&[("f.yaml".into(), text.into())]).map(|s| s.len()).expect_err(text)
}

fn one_error(text: &str) -> SpecError {
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:?}");
    e.into_iter().next().unwrap()
}

#[test]
fn shipped_examples_load() {
    let specs = toolpulse_slo::spec::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("specs")).unwrap();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["fleet-availability", "postgres-availability", "jira-latency", "jira-p99-per-minute", "fleet-chains", "slack-auth"]);
    let chains = specs.iter().find(|s| s.name == "fleet-chains").unwrap();
    assert_eq!(chains.sli, Sli::ChainLatency { threshold_ms: 10000.0, min_depth: 2 });
    let slack = specs.iter().find(|s| s.name == "slack-auth").unwrap();
    assert_eq!(slack.sli.kind_name(), "auth_failure_rate", "OpenSLO ratio with bad = auth_failure");
    assert_eq!(slack.objective, 0.98);
    assert_eq!(slack.selector.promql_matchers(), "server=\"slack\"");
    let w: Vec<_> = slack.alerting.windows.iter().map(|w| (w.severity.as_str(), w.long, w.short, w.factor)).collect();
    assert_eq!(w, [("page", Duration::from_secs(3600), Duration::from_secs(300), 14.4), ("ticket", Duration::from_secs(86400), Duration::from_secs(7200), 3.0)]);
    assert!(slack.alerting.no_data.is_some(), "alertWhenNoData");
    let p99 = specs.iter().find(|s| s.name == "jira-p99-per-minute").unwrap();
    assert!(matches!(p99.sli, Sli::LatencyPercentile { percentile, threshold_ms, .. } if percentile == 0.99 && threshold_ms == 5000.0));
    assert_eq!(p99.budgeting, Budgeting::Timeslices { slice: Duration::from_secs(60), target: 0.995 });
    assert_eq!(specs[0].period, Period::Rolling(Duration::from_secs(30 * 86400)));
    assert_eq!(specs[0].alerting.windows.len(), 4, "the SRE workbook's four pairs by default");
}

const GOOD: &str = "name: a\nsli: {kind: success_rate}\nobjective: 0.99\n";

#[test]
fn each_mistake_names_file_line_and_reason() {
    let cases: &[(&str, u64, &str)] = &[
        ("name: a\nsli:\n  kind: succes_rate\nobjective: 0.99\n", 3, "sli.kind `succes_rate` is unknown"),
        ("name: a\nsli: {kind: success_rate}\nobjective: 1.5\n", 3, "objective must be in (0, 1)"),
        ("name: a\nsli: {kind: success_rate}\nobjective: 0.99\nperiod: a month or so\n", 4, "period"),
        ("name: a\nsli:\n  kind: latency\nobjective: 0.99\n", 3, "threshold_ms is required"),
        ("name: a\nsli:\n  kind: success_rate\n  good_outcomes: [sucess]\nobjective: 0.99\n", 4, "unknown outcome `sucess`"),
        ("name: a\nsli: {kind: success_rate}\nobjective: 0.99\nalerting:\n  windows:\n    - {severity: page, long: 5m, short: 1h, factor: 14.4}\n", 6, "must be shorter"),
        ("name: a\nsli: {kind: success_rate}\nobjective: 0.9\nalerting:\n  windows:\n    - {severity: page, long: 1h, short: 5m, factor: 14.4}\n", 1, "can never be reached"),
        ("name: a\nselector:\n  tool: \"~(\"\nsli: {kind: success_rate}\nobjective: 0.99\n", 3, "invalid regex"),
        ("name: a\nsli: {kind: success_rate}\nobjective: 0.99\ntimeslice: 7m\nbudgeting: timeslices\n", 4, "timeslice must divide an hour"),
        ("name: a\nsli: {kind: success_rate}\nobjective: 0.99\nbogus: 1\n", 4, "bogus"),
        ("name: a\nsli: {kind: success_rate}\nobjective: [0.99\n", 3, ""),
    ];
    for (text, line, reason) in cases {
        let e = one_error(text);
        assert_eq!(e.file, "f.yaml");
        assert_eq!(e.line, *line, "{text:?} → {e}");
        assert!(e.reason.contains(reason), "{text:?} → {e}");
    }
}

#[test]
fn lines_count_across_documents_and_duplicates_are_refused() {
    let text = format!("{GOOD}---\nname: b\nsli: {{kind: success_rate}}\nobjective: 2\n");
    let e = one_error(&text);
    assert_eq!((e.line, e.reason.contains("objective")), (7, true), "{e}");
    let e = one_error(&format!("{GOOD}---\n{GOOD}"));
    assert!(e.reason.contains("defined twice"), "{e}");
    assert_eq!(e.line, 5);
}

#[test]
fn openslo_references_must_resolve() {
    let text = "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: x}\nspec:\n  indicatorRef: nope\n  objectives: [{target: 0.99}]\n";
    let e = one_error(text);
    assert!(e.reason.contains("indicatorRef `nope`"), "{e}");
    let inline = "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: x}\nspec:\n  service: github\n  indicator:\n    metadata: {name: i}\n    spec:\n      thresholdMetric:\n        metricSource: {type: toolpulse, spec: {percentile: 0.95}}\n  objectives:\n    - {target: 0.99, op: lte, value: 800}\n";
    let specs = load_sources(&[("i.yaml".into(), inline.into())]).unwrap();
    assert!(matches!(specs[0].sli, Sli::LatencyPercentile { percentile, threshold_ms, .. } if percentile == 0.95 && threshold_ms == 800.0));
    assert_eq!(specs[0].selector.promql_matchers(), "server=\"github\"");
    let other = "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: x}\nspec:\n  indicator:\n    metadata: {name: i}\n    spec:\n      ratioMetric:\n        good: {metricSource: {type: prometheus, spec: {}}}\n        total: {metricSource: {type: prometheus, spec: {}}}\n  objectives: [{target: 0.99}]\n";
    assert!(one_error(other).reason.contains("metricSource type `prometheus` is not supported"));
}
