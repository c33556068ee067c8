//! SLO alerts pushed to a real Alertmanager (Debian's `prometheus-alertmanager`,
//! started here on loopback) are active there, as `amtool alert query` and its
//! API show.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use toolpulse_serve::{Config, Server};

const TOKEN: &str = "am-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_alert_reaches_alertmanager() {
    let dir = tempfile::tempdir().unwrap();
    let am_port = common::free_port();
    let am_url = format!("http://127.0.0.1:{am_port}");
    std::fs::write(dir.path().join("am.yml"), "route:\n  receiver: devnull\nreceivers:\n  - name: devnull\n").unwrap();
    let am = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", dir.path().join("am.yml").display()))
        .arg(format!("--storage.path={}", dir.path().join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-alertmanager is installed by scripts/setup.sh");
    let _am = common::ChildGuard(am);
    let url = am_url.clone();
    let up = tokio::task::spawn_blocking(move || common::wait_ready(&url, Duration::from_secs(20)));
    assert!(up.await.unwrap(), "alertmanager did not become ready");

    std::fs::create_dir_all(dir.path().join("slos")).unwrap();
    std::fs::write(
        dir.path().join("slos/github.yaml"),
        "name: github-availability\nselector: {server: github}\nsli: {kind: success_rate}\nobjective: 0.999\nlabels: {team: dev}\n",
    )
    .unwrap();
    let mut cfg = Config { data_dir: dir.path().join("data"), ..Config::default() };
    cfg.server.listen = "127.0.0.1:0".parse().unwrap();
    cfg.pgwire.enabled = false;
    cfg.otlp.grpc_enabled = false;
    cfg.server.token = TOKEN.into();
    cfg.slo.dir = Some(dir.path().join("slos"));
    cfg.slo.alertmanager = Some(toolpulse_slo::notify::AlertmanagerConfig { url: am_url.clone(), timeout: Duration::from_secs(5) });
    let s = Server::start(cfg).await.unwrap();

    // The last 30 minutes: 60 calls a minute, 10% failing.
    let now = chrono::Utc::now().timestamp_millis();
    let mut body = String::new();
    for i in 0..1800 {
        let outcome = if i % 10 == 0 { "tool_error" } else { "success" };
        let ts = now - 1_800_000 + i as i64 * 1000;
        body.push_str(&format!(
            "{{\"event_id\":\"{}\",\"timestamp\":{ts},\"duration_ms\":20,\"server\":\"github\",\"tool\":\"get_issue\",\"outcome\":\"{outcome}\"}}\n",
            uuid::Uuid::from_u128(i)
        ));
    }
    let r = reqwest::Client::new().post(format!("http://{}/v1/events", s.addr)).bearer_auth(TOKEN).body(body).send().await.unwrap();
    assert!(r.status().is_success());
    s.slo.evaluate_now().await.unwrap();

    let url = am_url.clone();
    let seen = tokio::task::spawn_blocking(move || {
        common::wait_until(Duration::from_secs(20), || {
            let out = Command::new("amtool").args(["alert", "query", "--output=extended", &format!("--alertmanager.url={url}")]).output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            text.contains("SLOBurnRate") && text.contains("slo=\"github-availability\"") && text.contains("severity=\"page\"")
        })
    })
    .await
    .unwrap();
    assert!(seen, "amtool lists the page alert");
    let alerts: serde_json::Value = reqwest::get(format!("{am_url}/api/v2/alerts")).await.unwrap().json().await.unwrap();
    let page = alerts.as_array().unwrap().iter().find(|a| a["labels"]["severity"] == "page").expect("the page alert");
    assert_eq!(page["status"]["state"], "active");
    assert_eq!(page["labels"]["team"], "dev");
    assert!(page["generatorURL"].as_str().unwrap().ends_with("/api/v1/slos/github-availability"));
    assert!(page["annotations"]["summary"].as_str().unwrap().contains("github-availability"));
    s.shutdown().await.unwrap();
}
