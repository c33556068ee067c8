//! The fleet model: servers with versions and tools, each tool with its own
//! log-normal latency, popularity and failure rates; agents and tenants that call them.

use rand::Rng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, LogNormal};

const SERVER_NAMES: &[&str] = &[
    "github", "jira", "postgres", "slack", "filesystem", "search", "browser", "stripe", "salesforce", "confluence",
    "gdrive", "notion", "linear", "sentry", "datadog", "kubernetes", "snowflake", "zendesk", "hubspot", "figma",
];
const VERBS: &[&str] = &["get", "list", "search", "create", "update", "delete", "run", "fetch", "query", "summarize"];
const NOUNS: &[&str] = &[
    "issue", "file", "page", "record", "user", "query", "message", "ticket", "report", "branch", "document", "invoice",
    "dashboard", "channel", "table", "pod", "event", "comment",
];
const CLIENTS: &[(&str, &str)] =
    &[("claude-desktop", "0.9.3"), ("cursor", "1.2.0"), ("vscode-copilot", "1.101.0"), ("custom-agent", "2.4.1")];
const GATEWAYS: &[&str] = &["gw-eu-1", "gw-us-1", "gw-us-2"];
const PROTOCOL_VERSIONS: &[&str] = &["2025-06-18", "2025-03-26", "2024-11-05"];

/// How big a fleet to make.
#[derive(Debug, Clone)]
pub struct FleetSpec {
    pub servers: usize,
    pub tools_per_server: usize,
    pub agents: usize,
    pub tenants: usize,
}

impl Default for FleetSpec {
    fn default() -> Self {
        Self { servers: 12, tools_per_server: 8, agents: 40, tenants: 6 }
    }
}

/// One tool and how it behaves.
#[derive(Debug, Clone)]
pub struct ToolModel {
    pub name: String,
    pub schema_version: String,
    /// Log-normal latency: median (ms) and shape.
    pub latency: LogNormal<f64>,
    pub median_ms: f64,
    /// Share of calls that fail in the tool (`tool_error`).
    pub tool_error_rate: f64,
    /// Relative popularity.
    pub weight: f64,
    /// Calls slower than this time out.
    pub timeout_ms: f64,
}

#[derive(Debug, Clone)]
pub struct ServerModel {
    pub name: String,
    pub version: String,
    pub tools: Vec<ToolModel>,
    pub transport: &'static str,
    /// Cumulative tool weights, for sampling.
    cumulative: Vec<f64>,
    pub weight: f64,
}

#[derive(Debug, Clone)]
pub struct AgentModel {
    pub id: String,
    pub name: String,
    pub client: (&'static str, &'static str),
    pub tenant: String,
    /// Share of this agent's calls refused for authentication (expired tokens...).
    pub auth_failure_rate: f64,
}

/// A whole synthetic fleet.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub servers: Vec<ServerModel>,
    pub agents: Vec<AgentModel>,
    server_cumulative: Vec<f64>,
}

impl Fleet {
    pub fn new(spec: &FleetSpec, rng: &mut StdRng) -> Self {
        let servers: Vec<ServerModel> = (0..spec.servers.max(1)).map(|i| server(i, spec, rng)).collect();
        let agents = (0..spec.agents.max(1))
            .map(|i| AgentModel {
                id: format!("agent-{i:03}"),
                name: format!("{}-bot", NOUNS[i % NOUNS.len()]),
                client: CLIENTS[rng.random_range(0..CLIENTS.len())],
                tenant: format!("tenant-{}", i % spec.tenants.max(1)),
                auth_failure_rate: if rng.random_bool(0.1) { 0.02 } else { 0.001 },
            })
            .collect();
        let server_cumulative = cumulative(servers.iter().map(|s| s.weight));
        Self { servers, agents, server_cumulative }
    }

    /// A server and one of its tools, by popularity.
    pub fn pick(&self, rng: &mut StdRng) -> (&ServerModel, &ToolModel) {
        let s = &self.servers[sample(&self.server_cumulative, rng)];
        (s, &s.tools[sample(&s.cumulative, rng)])
    }

    pub fn server_index(&self, name: &str) -> Option<usize> {
        self.servers.iter().position(|s| s.name == name)
    }
}

fn server(i: usize, spec: &FleetSpec, rng: &mut StdRng) -> ServerModel {
    let base = SERVER_NAMES[i % SERVER_NAMES.len()];
    let name = if i < SERVER_NAMES.len() { base.to_owned() } else { format!("{base}-{}", i / SERVER_NAMES.len()) };
    let tools: Vec<ToolModel> = (0..spec.tools_per_server.max(1)).map(|t| tool(t, rng)).collect();
    ServerModel {
        name,
        version: format!("{}.{}.{}", rng.random_range(1..4), rng.random_range(0..12), rng.random_range(0..20)),
        cumulative: cumulative(tools.iter().map(|t| t.weight)),
        tools,
        transport: if rng.random_bool(0.7) { "streamable_http" } else { "stdio" },
        weight: 1.0 / (i as f64 + 1.0).powf(0.8),
    }
}

fn tool(t: usize, rng: &mut StdRng) -> ToolModel {
    let verb = VERBS[t % VERBS.len()];
    let noun = NOUNS[(t * 7 + rng.random_range(0..NOUNS.len())) % NOUNS.len()];
    // Medians from a few ms (lookups) to about a second (searches, runs).
    let median_ms = 10f64.powf(rng.random_range(0.6..3.0));
    let sigma = rng.random_range(0.35..0.9);
    ToolModel {
        name: format!("{verb}_{noun}_{t}"),
        schema_version: format!("{}", rng.random_range(1..4)),
        latency: LogNormal::new(median_ms.ln(), sigma).expect("valid log-normal"),
        median_ms,
        // 0.01–0.1%: a healthy fleet sits well inside a 99.9% objective, so
        // alerts come from incidents rather than from the baseline.
        tool_error_rate: rng.random_range(0.0001..0.001),
        weight: 1.0 / (t as f64 + 1.0),
        timeout_ms: 30_000.0,
    }
}

fn cumulative(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut acc = 0.0;
    weights.map(|w| {
        acc += w;
        acc
    })
    .collect()
}

fn sample(cumulative: &[f64], rng: &mut StdRng) -> usize {
    let total = cumulative.last().copied().unwrap_or(1.0);
    let x = rng.random::<f64>() * total;
    cumulative.partition_point(|c| *c <= x).min(cumulative.len() - 1)
}

impl ToolModel {
    pub fn latency_ms(&self, rng: &mut StdRng) -> f64 {
        self.latency.sample(rng)
    }
}

/// Fixed choices for an event's context fields.
pub fn gateway(rng: &mut StdRng) -> &'static str {
    GATEWAYS[rng.random_range(0..GATEWAYS.len())]
}

pub fn protocol_version(rng: &mut StdRng) -> &'static str {
    let r: f64 = rng.random();
    if r < 0.8 { PROTOCOL_VERSIONS[0] } else if r < 0.97 { PROTOCOL_VERSIONS[1] } else { PROTOCOL_VERSIONS[2] }
}
