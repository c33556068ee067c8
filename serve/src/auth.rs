//! Bearer-token authentication. Every route but the health checks goes through
//! [`require_token`]; a missing or wrong token is refused with 401, and there is
//! no way to turn the check off (it fails closed).

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use subtle::ConstantTimeEq;

/// The token the server accepts.
#[derive(Clone)]
pub struct Token(Arc<String>);

impl Token {
    pub fn new(value: impl Into<String>) -> Self {
        Token(Arc::new(value.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison.
    pub fn matches(&self, presented: &str) -> bool {
        !self.0.is_empty() && self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

/// How the token was obtained.
pub enum TokenSource {
    Configured,
    /// Read back from the file a previous run generated.
    File,
    /// Generated now; the caller prints it once.
    Generated,
}

/// The configured token, else the one stored at `path`, else a new random one
/// written to `path` with mode 0600.
pub fn resolve_token(configured: &str, path: &Path) -> std::io::Result<(Token, TokenSource)> {
    if !configured.is_empty() {
        return Ok((Token::new(configured), TokenSource::Configured));
    }
    if let Ok(existing) = fs::read_to_string(path) {
        let t = existing.trim();
        if !t.is_empty() {
            return Ok((Token::new(t), TokenSource::File));
        }
    }
    let token = generate();
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(token.as_bytes())?;
    f.sync_all()?;
    Ok((Token::new(token), TokenSource::Generated))
}

/// 32 random bytes, hex: 256 bits.
fn generate() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    toolpulse_schemas::ids::to_hex(&bytes)
}

/// The token presented by a request: `Authorization: Bearer <token>`, or HTTP
/// Basic auth with the token as the password (what Grafana sends when a data
/// source is set up with basic auth).
pub fn presented_token(req: &Request) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" => Some(rest.trim().to_owned()),
        "basic" => {
            let decoded = base64_decode(rest.trim())?;
            let text = String::from_utf8(decoded).ok()?;
            text.split_once(':').map(|(_, password)| password.to_owned())
        }
        _ => None,
    }
}

/// Axum middleware: 401 unless the request carries the token.
pub async fn require_token(State(token): State<Token>, req: Request, next: Next) -> Response {
    match presented_token(&req) {
        Some(t) if token.matches(&t) => next.run(req).await,
        presented => {
            let msg = if presented.is_some() { "invalid token" } else { "missing bearer token" };
            let mut resp = (StatusCode::UNAUTHORIZED, axum::Json(serde_json_error(msg))).into_response();
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"toolpulse\""));
            resp
        }
    }
}

/// The error shape of the Prometheus API, which Grafana shows verbatim.
fn serde_json_error(msg: &str) -> serde_json::Value {
    serde_json::json!({"status": "error", "errorType": "unauthorized", "error": msg})
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_token_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let (t1, s1) = resolve_token("", &path).unwrap();
        assert!(matches!(s1, TokenSource::Generated));
        assert_eq!(t1.as_str().len(), 64);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let (t2, s2) = resolve_token("", &path).unwrap();
        assert!(matches!(s2, TokenSource::File));
        assert_eq!(t1.as_str(), t2.as_str());
        let (t3, _) = resolve_token("configured", &path).unwrap();
        assert!(t3.matches("configured") && !t3.matches("configure") && !t3.matches(""));
    }

    #[test]
    fn basic_auth_password_is_the_token() {
        assert_eq!(base64_decode("dXNlcjpzM2NyZXQ="), Some(b"user:s3cret".to_vec()));
    }
}
