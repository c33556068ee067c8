//! Loading SLO specs from files and directories, in either format, with every
//! problem reported as `file:line: reason`.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;

use super::SloSpec;
use super::parse_util::{Ctx, split_documents};

/// A problem in a spec file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct SpecError {
    pub file: String,
    pub line: u64,
    pub reason: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.reason)
    }
}

#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
}

/// Reads every `*.yaml`/`*.yml` file of `dir` (sorted by name). Either all specs
/// or every error found.
pub fn load_dir(dir: &Path) -> Result<Vec<SloSpec>, Vec<SpecError>> {
    let io_err = |e: std::io::Error| vec![SpecError { file: dir.display().to_string(), line: 0, reason: e.to_string() }];
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(io_err)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let mut sources = Vec::new();
    for f in &files {
        match std::fs::read_to_string(f) {
            Ok(text) => sources.push((f.display().to_string(), text)),
            Err(e) => return Err(vec![SpecError { file: f.display().to_string(), line: 0, reason: e.to_string() }]),
        }
    }
    load_sources(&sources)
}

/// Reads one file.
pub fn load_file(path: &Path) -> Result<Vec<SloSpec>, Vec<SpecError>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![SpecError { file: path.display().to_string(), line: 0, reason: e.to_string() }])?;
    load_sources(&[(path.display().to_string(), text)])
}

/// Parses named YAML texts: native documents directly, OpenSLO objects once all
/// are read (they refer to each other across files). Names must be unique.
pub fn load_sources(sources: &[(String, String)]) -> Result<Vec<SloSpec>, Vec<SpecError>> {
    let mut specs = Vec::new();
    let mut openslo = Vec::new();
    let mut errors = Vec::new();
    for (file, text) in sources {
        for doc in split_documents(text) {
            let ctx = Ctx { file, first_line: doc.first_line };
            let probe: Probe = match ctx.parse(doc.text) {
                Ok(p) => p,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let result = match probe.api_version.as_deref() {
                Some(v) if v.starts_with("openslo/") => {
                    if v != "openslo/v1" {
                        errors.push(ctx.at(1, format!("apiVersion `{v}` is not supported (openslo/v1)")));
                        continue;
                    }
                    super::openslo::read(&ctx, doc.text).map(|o| openslo.push(o))
                }
                Some(v) => Err(ctx.at(1, format!("apiVersion `{v}` is unknown (omit it for toolpulse's format, or openslo/v1)"))),
                None => super::native::parse(&ctx, doc.text).map(|s| specs.push((s, doc.first_line))),
            };
            if let Err(e) = result {
                errors.push(e);
            }
        }
    }
    match super::openslo::resolve(&openslo) {
        Ok(more) => specs.extend(more.into_iter().map(|s| (s, 0))),
        Err(e) => errors.extend(e),
    }
    let mut seen: HashMap<String, String> = HashMap::new();
    for (s, line) in &specs {
        if let Some(first) = seen.insert(s.name.clone(), s.source.clone()) {
            errors.push(SpecError { file: s.source.clone(), line: *line, reason: format!("slo `{}` is defined twice (also in {first})", s.name) });
        }
    }
    if errors.is_empty() { Ok(specs.into_iter().map(|(s, _)| s).collect()) } else { Err(errors) }
}
