//! Which tool calls an SLO is about: per dimension (server, tool, agent, tenant)
//! a list of patterns, each a glob (`git*`, `*`) or, prefixed with `~`, a regular
//! expression anchored at both ends. An empty list matches everything.

use globset::{Glob, GlobMatcher};
use regex::Regex;

/// One pattern of a dimension.
#[derive(Debug, Clone)]
pub enum Pattern {
    Exact(String),
    Glob(GlobMatcher),
    Regex(Regex),
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source() == other.source()
    }
}

impl Pattern {
    /// Parses `text`: `~re` is a regex, text with `*?[` a glob, anything else exact.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        if let Some(re) = text.strip_prefix('~') {
            return Regex::new(&format!("^(?:{re})$")).map(Pattern::Regex).map_err(|e| format!("invalid regex `{re}`: {e}"));
        }
        if text.contains(['*', '?', '[']) {
            return Glob::new(text).map(|g| Pattern::Glob(g.compile_matcher())).map_err(|e| format!("invalid glob `{text}`: {e}"));
        }
        if text.is_empty() {
            return Err("empty pattern".into());
        }
        Ok(Pattern::Exact(text.to_owned()))
    }

    pub fn matches(&self, value: &str) -> bool {
        match self {
            Pattern::Exact(s) => s == value,
            Pattern::Glob(g) => g.is_match(value),
            Pattern::Regex(r) => r.is_match(value),
        }
    }

    pub fn source(&self) -> String {
        match self {
            Pattern::Exact(s) => s.clone(),
            Pattern::Glob(g) => g.glob().glob().to_owned(),
            Pattern::Regex(r) => {
                let s = r.as_str();
                format!("~{}", s.strip_prefix("^(?:").and_then(|s| s.strip_suffix(")$")).unwrap_or(s))
            }
        }
    }

    /// The pattern as a PromQL label matcher value (`=` exact, `=~` otherwise).
    pub fn promql(&self) -> (bool, String) {
        match self {
            Pattern::Exact(s) => (false, s.clone()),
            Pattern::Glob(g) => (true, glob_to_regex(g.glob().glob())),
            Pattern::Regex(_) => (true, self.source()[1..].to_owned()),
        }
    }
}

fn glob_to_regex(glob: &str) -> String {
    let mut out = String::new();
    for c in glob.chars() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            c if "\\.+()|{}^$[]".contains(c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Patterns for one dimension; empty matches any value, including a missing one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DimensionMatcher(pub Vec<Pattern>);

impl DimensionMatcher {
    pub fn matches(&self, value: Option<&str>) -> bool {
        self.0.is_empty() || value.is_some_and(|v| self.0.iter().any(|p| p.matches(v)))
    }

    pub fn is_any(&self) -> bool {
        self.0.is_empty()
    }
}

/// The selection of an SLO.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selector {
    pub server: DimensionMatcher,
    pub tool: DimensionMatcher,
    pub agent: DimensionMatcher,
    pub tenant: DimensionMatcher,
}

/// The dimensions of one series of calls, as the rollups hold them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeriesKey {
    pub server: String,
    pub tool: String,
    pub agent: Option<String>,
    pub tenant: Option<String>,
}

impl Selector {
    pub fn matches(&self, k: &SeriesKey) -> bool {
        self.server.matches(Some(&k.server))
            && self.tool.matches(Some(&k.tool))
            && self.agent.matches(k.agent.as_deref())
            && self.tenant.matches(k.tenant.as_deref())
    }

    /// Whether any SLO needs the agent or tenant dimension.
    pub fn uses_agent_or_tenant(&self) -> bool {
        !self.agent.is_any() || !self.tenant.is_any()
    }

    /// The selection as PromQL label matchers, e.g. `server="github",tool=~"get_.*"`.
    pub fn promql_matchers(&self) -> String {
        let dims = [("server", &self.server), ("tool", &self.tool), ("agent", &self.agent), ("tenant", &self.tenant)];
        let mut parts = Vec::new();
        for (label, m) in dims {
            match m.0.as_slice() {
                [] => {}
                [p] => {
                    let (re, v) = p.promql();
                    parts.push(format!("{label}{}\"{}\"", if re { "=~" } else { "=" }, escape(&v)));
                }
                many => {
                    let alts: Vec<String> = many.iter().map(|p| p.promql()).map(|(re, v)| if re { v } else { regex::escape(&v) }).collect();
                    parts.push(format!("{label}=~\"{}\"", escape(&alts.join("|"))));
                }
            }
        }
        parts.join(",")
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(server: &str, tool: &str, agent: Option<&str>) -> SeriesKey {
        SeriesKey { server: server.into(), tool: tool.into(), agent: agent.map(Into::into), tenant: None }
    }

    #[test]
    fn patterns_match_as_documented() {
        let sel = Selector {
            server: DimensionMatcher(vec![Pattern::parse("github").unwrap(), Pattern::parse("ji*").unwrap()]),
            tool: DimensionMatcher(vec![Pattern::parse("~(get|list)_.+").unwrap()]),
            ..Selector::default()
        };
        assert!(sel.matches(&key("github", "get_issue", None)));
        assert!(sel.matches(&key("jira", "list_tickets", Some("a"))));
        assert!(!sel.matches(&key("gitlab", "get_issue", None)));
        assert!(!sel.matches(&key("github", "create_issue", None)));
        assert!(!sel.matches(&key("github", "xget_issue", None)), "regexes are anchored");
        let agent = Selector { agent: DimensionMatcher(vec![Pattern::parse("bot").unwrap()]), ..Selector::default() };
        assert!(!agent.matches(&key("github", "t", None)), "a missing agent does not match a pattern");
        assert_eq!(sel.promql_matchers(), r#"server=~"github|ji.*",tool=~"(get|list)_.+""#);
        assert!(Pattern::parse("~(").is_err());
    }
}
