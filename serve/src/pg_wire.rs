//! The PostgreSQL wire protocol (via `datafusion-postgres` and `pgwire`), so
//! `psql` and Grafana's PostgreSQL data source can query the store. The
//! password is the API token (any user name); a wrong one is refused. Only
//! reading statements run: queries (not `SELECT … INTO`), `EXPLAIN`, `SHOW`,
//! `SET` (of the session's own settings: not `datafusion.…`, which every
//! connection shares; SQLSTATE 42501), `COPY … TO STDOUT`
//! ([`crate::pg_copy`]), cursors and transaction control;
//! everything else is refused with SQLSTATE 25006 (`read_only_sql_transaction`).
//! The session it serves ends each query at the query timeout
//! ([`toolpulse_query::deadline`]), and its `information_schema` is
//! PostgreSQL's ([`crate::pg_information_schema`]), as are its settings
//! ([`crate::pg_settings`]).

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{ObjectName, Set, SetExpr, Statement};
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::pgwire::api::auth::cleartext::CleartextPasswordAuthStartupHandler;
use datafusion_postgres::pgwire::api::auth::{AuthSource, DefaultServerParameterProvider, LoginInfo, Password};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::Response;
use datafusion_postgres::pgwire::api::{ClientInfo, PgWireServerHandlers};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::{DfSessionService, QueryHook};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::auth::Token;
use crate::pg_copy::CopyToStdout;
use crate::pg_error::user_error;
use crate::pg_settings;
use crate::pg_types::SendableTypes;

/// The password is the token, whoever logs in.
struct TokenAuth(Token);

impl std::fmt::Debug for TokenAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenAuth(…)")
    }
}

#[async_trait]
impl AuthSource for TokenAuth {
    async fn get_password(&self, _login: &LoginInfo) -> PgWireResult<Password> {
        Ok(Password::new(None, self.0.as_str().as_bytes().to_vec()))
    }
}

/// Refuses every statement that could write or reach outside the store.
#[derive(Debug)]
struct ReadOnly;

fn read_only_body(body: &SetExpr) -> bool {
    match body {
        SetExpr::Select(s) => s.into.is_none(),
        SetExpr::Query(q) => read_only_body(&q.body),
        SetExpr::SetOperation { left, right, .. } => read_only_body(left) && read_only_body(right),
        SetExpr::Values(_) | SetExpr::Table(_) => true,
        _ => false,
    }
}

/// Whether a `SET` assigns one of DataFusion's own settings (`datafusion.…`),
/// which live in the session every connection shares: one client would
/// change every other client's queries.
fn sets_shared_settings(s: &Set) -> bool {
    let shared = |name: &ObjectName| name.to_string().to_ascii_lowercase().starts_with("datafusion.");
    match s {
        Set::SingleAssignment { variable, .. } => shared(variable),
        Set::ParenthesizedAssignments { variables, .. } => variables.iter().any(shared),
        Set::MultipleAssignments { assignments } => assignments.iter().any(|a| shared(&a.name)),
        _ => false,
    }
}

fn allowed(s: &Statement) -> bool {
    match s {
        Statement::Set(set) => !sets_shared_settings(set),
        Statement::Copy { .. } => crate::pg_copy::is_copy_to_stdout(s),
        Statement::Query(q) => read_only_body(&q.body),
        Statement::Explain { statement, .. } => allowed(statement),
        Statement::ExplainTable { .. }
        | Statement::ShowVariable { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowSchemas { .. }
        | Statement::ShowDatabases { .. }
        | Statement::ShowFunctions { .. }
        | Statement::Reset(_)
        | Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Declare { .. }
        | Statement::Fetch { .. }
        | Statement::Close { .. }
        | Statement::Discard { .. }
        | Statement::Deallocate { .. } => true,
        _ => false,
    }
}

fn refusal(s: &Statement) -> PgWireError {
    let (code, message) = match s {
        Statement::Set(_) => ("42501", "SET of DataFusion's settings is not allowed: every connection shares them".to_owned()),
        _ => {
            let verb = s.to_string().split_whitespace().next().unwrap_or("statement").to_ascii_uppercase();
            ("25006", format!("{verb} is not allowed: toolpulse's SQL is read-only"))
        }
    };
    user_error(code, message)
}

#[async_trait]
impl QueryHook for ReadOnly {
    async fn handle_simple_query(&self, s: &Statement, _: &SessionContext, _: &mut dyn HookClient) -> Option<PgWireResult<Response>> {
        (!allowed(s)).then(|| Err(refusal(s)))
    }

    async fn handle_extended_parse_query(&self, s: &Statement, _: &SessionContext, _: &(dyn ClientInfo + Send + Sync)) -> Option<PgWireResult<LogicalPlan>> {
        (!allowed(s)).then(|| Err(refusal(s)))
    }

    async fn handle_extended_query(
        &self,
        s: &Statement,
        _: &LogicalPlan,
        _: &ParamValues,
        _: &SessionContext,
        _: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        (!allowed(s)).then(|| Err(refusal(s)))
    }
}

struct Handlers {
    session: Arc<DfSessionService>,
    startup: Arc<CleartextPasswordAuthStartupHandler<TokenAuth, DefaultServerParameterProvider>>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.session.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.session.clone()
    }

    fn startup_handler(&self) -> Arc<impl datafusion_postgres::pgwire::api::auth::StartupHandler> {
        self.startup.clone()
    }
}

/// Serves `ctx` on `listen` until `stop`; returns the bound address.
pub async fn spawn(
    listen: SocketAddr,
    ctx: SessionContext,
    token: Token,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    setup_pg_catalog(&ctx, "datafusion", EmptyContextProvider).map_err(|e| anyhow::anyhow!("setting up pg_catalog: {e}"))?;
    crate::pg_information_schema::install(&ctx).await.map_err(|e| anyhow::anyhow!("setting up information_schema: {e}"))?;
    // The read-only check first, then the conversion of columns the encoder
    // cannot send (queries and cursors over them), then the library's own hooks
    // (cursors, SET/SHOW, transactions).
    let all: Vec<Arc<dyn QueryHook>> = vec![
        Arc::new(ReadOnly),
        Arc::new(CopyToStdout),
        Arc::new(SendableTypes),
        Arc::new(CursorStatementHook),
        Arc::new(SetShowHook),
        Arc::new(TransactionStatementHook),
    ];
    let params = pg_settings::startup_parameters();
    ctx.register_udf(pg_settings::current_setting_udf(pg_settings::settings(&params)));
    ctx.register_udf(crate::pg_typeof::pg_typeof_udf());
    let handlers = Arc::new(Handlers {
        session: Arc::new(DfSessionService::new_with_hooks(Arc::new(ctx), all)),
        startup: Arc::new(CleartextPasswordAuthStartupHandler::new(TokenAuth(token), params)),
    });
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let socket = tokio::select! {
                r = listener.accept() => r,
                _ = stop.wait_for(|s| *s) => return,
            };
            match socket {
                Ok((socket, peer)) => {
                    let h = handlers.clone();
                    tokio::spawn(async move {
                        if let Err(e) = datafusion_postgres::pgwire::tokio::process_socket(socket, None, h).await {
                            tracing::debug!(%peer, error = %e, "postgres connection ended with an error");
                        }
                    });
                }
                Err(e) => tracing::warn!(error = %e, "accepting a postgres connection"),
            }
        }
    });
    Ok((addr, task))
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn ok(sql: &str) -> bool {
        Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().iter().all(super::allowed)
    }

    #[test]
    fn only_reading_statements_pass() {
        assert!(ok("SELECT 1"));
        assert!(ok("WITH a AS (SELECT 1) SELECT * FROM a UNION SELECT 2"));
        assert!(ok("SHOW TABLES"));
        assert!(ok("SET datestyle TO 'ISO'"));
        assert!(ok("SET statement_timeout = '5s'"));
        assert!(ok("COPY (SELECT 1) TO STDOUT WITH (FORMAT csv)"));
        assert!(ok("EXPLAIN SELECT 1"));
        for bad in [
            "INSERT INTO t VALUES (1)",
            "CREATE TABLE t (a int)",
            "DROP TABLE tool_calls",
            "COPY tool_calls TO '/tmp/x'",
            "COPY tool_calls FROM STDIN",
            "SELECT 1 INTO t",
            "DELETE FROM t",
            "EXPLAIN ANALYZE INSERT INTO t VALUES (1)",
            "SET datafusion.execution.batch_size = 1",
            "SET DataFusion.Catalog.Information_Schema TO true",
        ] {
            assert!(!ok(bad), "{bad}");
        }
    }
}
