//! Helpers shared by the two spec formats: splitting a file into YAML documents
//! (keeping line numbers), durations, outcome lists, and located errors.

use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;
use toolpulse_schemas::Outcome;

use super::OutcomeSet;
use super::load::SpecError;

/// One YAML document of a file and the line it starts on (1-based).
pub struct Document<'a> {
    pub text: &'a str,
    pub first_line: u64,
}

/// Splits a YAML stream at `---` document markers (which YAML only allows at
/// the start of a line). Empty documents are skipped.
pub fn split_documents(text: &str) -> Vec<Document<'_>> {
    let mut docs = Vec::new();
    let (mut start, mut start_line, mut line_no, mut offset) = (0usize, 1u64, 1u64, 0usize);
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        let marker = bare == "---" || bare.starts_with("--- ") || bare == "...";
        if marker {
            docs.push(Document { text: &text[start..offset], first_line: start_line });
            start = offset + line.len();
            start_line = line_no + 1;
        }
        offset += line.len();
        line_no += 1;
    }
    docs.push(Document { text: &text[start..], first_line: start_line });
    docs.retain(|d| d.text.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')));
    docs
}

/// Context for turning problems into [`SpecError`]s with file and line.
pub struct Ctx<'a> {
    pub file: &'a str,
    pub first_line: u64,
}

impl Ctx<'_> {
    /// An error at a 1-based line of the document.
    pub fn at(&self, doc_line: u64, reason: impl Into<String>) -> SpecError {
        SpecError { file: self.file.to_owned(), line: self.first_line + doc_line.saturating_sub(1), reason: reason.into() }
    }

    pub fn at_span<T>(&self, s: &Spanned<T>, reason: impl Into<String>) -> SpecError {
        self.at(s.referenced.line(), reason)
    }

    /// Deserializes the document, turning a YAML or shape error into a located one.
    pub fn parse<'de, T: Deserialize<'de>>(&self, text: &'de str) -> Result<T, SpecError> {
        let options = serde_saphyr::options! { with_snippet: false };
        serde_saphyr::from_str_with_options(text, options).map_err(|e| {
            let line = e.location().map_or(1, |l| l.line());
            let msg = e.to_string();
            // The message repeats the position; keep the reason only.
            let reason = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
            self.at(line, reason)
        })
    }

    pub fn duration(&self, s: &Spanned<String>, what: &str) -> Result<Duration, SpecError> {
        parse_duration(&s.value).map_err(|e| self.at_span(s, format!("{what}: {e}")))
    }

    pub fn outcomes(&self, list: &Spanned<Vec<String>>, what: &str) -> Result<OutcomeSet, SpecError> {
        let mut out = Vec::new();
        for name in &list.value {
            let o = Outcome::parse(name).ok_or_else(|| {
                let known: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
                self.at_span(list, format!("{what}: unknown outcome `{name}` (known: {})", known.join(", ")))
            })?;
            out.push(o);
        }
        if out.is_empty() {
            return Err(self.at_span(list, format!("{what}: the list is empty")));
        }
        Ok(OutcomeSet::of(&out))
    }

    /// A ratio in (0, 1).
    pub fn objective(&self, v: &Spanned<f64>, what: &str) -> Result<f64, SpecError> {
        let x = v.value;
        if x > 1.0 && x < 100.0 {
            return Err(self.at_span(v, format!("{what} must be in (0, 1), got {x} (a percentage? write {})", x / 100.0)));
        }
        if !(x > 0.0 && x < 1.0) {
            return Err(self.at_span(v, format!("{what} must be in (0, 1), got {x}")));
        }
        Ok(x)
    }
}

/// Durations as Prometheus and humans write them: `5m`, `1h30m`, `30d`, `1w`, `90s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    let d = humantime::parse_duration(t).map_err(|e| format!("`{s}` is not a duration ({e})"))?;
    if d.is_zero() {
        return Err(format!("`{s}` is zero"));
    }
    Ok(d)
}

/// A timeslice: whole minutes that divide an hour (slices never straddle the
/// hour partitions evaluation recomputes).
pub fn timeslice(ctx: &Ctx<'_>, s: &Spanned<String>) -> Result<Duration, SpecError> {
    let d = whole_minutes(ctx, s, "timeslice")?;
    let m = d.as_secs() / 60;
    if m == 0 || 60 % m != 0 {
        return Err(ctx.at_span(s, format!("timeslice must divide an hour (1m, 2m, 5m, 10m, 15m, 30m, 1h…), got {}", s.value)));
    }
    Ok(d)
}

/// A duration that may be zero (`0`, `0s`, `0m`), e.g. an alert's `for`.
pub fn parse_delay(s: &str) -> Result<Duration, String> {
    match s.trim() {
        "0" => Ok(Duration::ZERO),
        t => humantime::parse_duration(t).map_err(|e| format!("`{s}` is not a duration ({e})")),
    }
}

/// A whole number of minutes, the resolution SLOs are evaluated at.
pub fn whole_minutes(ctx: &Ctx<'_>, s: &Spanned<String>, what: &str) -> Result<Duration, SpecError> {
    let d = ctx.duration(s, what)?;
    if d.as_secs() % 60 != 0 {
        return Err(ctx.at_span(s, format!("{what} must be a whole number of minutes, got {}", s.value)));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_their_line_numbers() {
        let text = "# comment\na: 1\n---\nb: 2\nc: 3\n--- \n\n---\nd: 4\n";
        let docs = split_documents(text);
        assert_eq!(docs.len(), 3);
        assert_eq!((docs[0].first_line, docs[1].first_line, docs[2].first_line), (1, 4, 9));
        assert!(docs[1].text.starts_with("b: 2"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("30d").unwrap(), Duration::from_secs(30 * 86400));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
