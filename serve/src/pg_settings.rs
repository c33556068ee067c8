//! The PostgreSQL endpoint's server settings, from one source: what it reports
//! when a connection starts (`ParameterStatus`: the server version, encodings,
//! and that sessions are read-only) and what `current_setting(name [,
//! missing_ok])` answers. Grafana's PostgreSQL data source reads the version
//! with `current_setting('server_version_num')`, and its query builder the
//! `search_path`.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility};
use datafusion_postgres::pgwire::api::auth::DefaultServerParameterProvider;

/// What connections are told at start: pgwire's defaults, but read-only and
/// without superuser rights, as every session here is.
pub fn startup_parameters() -> DefaultServerParameterProvider {
    let mut p = DefaultServerParameterProvider::default();
    p.default_transaction_read_only = true;
    p.is_superuser = false;
    p
}

/// The settings `current_setting` knows, by lower-case name.
pub fn settings(p: &DefaultServerParameterProvider) -> BTreeMap<String, String> {
    let on = |b: bool| if b { "on" } else { "off" }.to_owned();
    let mut s = BTreeMap::new();
    s.insert("server_version".into(), p.server_version.clone());
    s.insert("server_version_num".into(), version_num(&p.server_version));
    s.insert("server_encoding".into(), p.server_encoding.clone());
    s.insert("client_encoding".into(), p.client_encoding.clone().unwrap_or_else(|| "UTF8".into()));
    s.insert("search_path".into(), p.search_path.clone());
    s.insert("timezone".into(), p.time_zone.clone());
    s.insert("datestyle".into(), p.date_style.clone());
    s.insert("intervalstyle".into(), p.interval_style.clone());
    s.insert("integer_datetimes".into(), on(p.integer_datetimes));
    s.insert("standard_conforming_strings".into(), on(p.standard_conforming_strings));
    s.insert("is_superuser".into(), on(p.is_superuser));
    s.insert("default_transaction_read_only".into(), on(p.default_transaction_read_only));
    s.insert("transaction_read_only".into(), on(p.default_transaction_read_only));
    s.insert("max_identifier_length".into(), "63".into());
    s
}

/// `16.6-pgwire-0.41.1` → `160006`, as PostgreSQL numbers its versions from 10 on.
fn version_num(version: &str) -> String {
    let mut parts = version.split(|c: char| !c.is_ascii_digit()).map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major * 10_000 + minor).to_string()
}

/// `current_setting(name [, missing_ok])` over these settings.
pub fn current_setting_udf(settings: BTreeMap<String, String>) -> ScalarUDF {
    ScalarUDF::from(CurrentSetting {
        settings: Arc::new(settings),
        signature: Signature::one_of(
            vec![TypeSignature::Exact(vec![DataType::Utf8]), TypeSignature::Exact(vec![DataType::Utf8, DataType::Boolean])],
            Volatility::Stable,
        ),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct CurrentSetting {
    settings: Arc<BTreeMap<String, String>>,
    signature: Signature,
}

impl ScalarUDFImpl for CurrentSetting {
    fn name(&self) -> &str {
        "current_setting"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let names = args.args[0].to_array(rows)?;
        let missing_ok = args.args.get(1).map(|a| a.to_array(rows)).transpose()?;
        let (names, missing_ok) = (names.as_string::<i32>(), missing_ok.as_ref().map(|m| m.as_boolean()));
        let mut out = StringBuilder::with_capacity(rows, rows * 8);
        for row in 0..rows {
            if names.is_null(row) {
                out.append_null();
                continue;
            }
            match self.settings.get(&names.value(row).to_ascii_lowercase()) {
                Some(v) => out.append_value(v),
                None if missing_ok.is_some_and(|m| m.is_valid(row) && m.value(row)) => out.append_null(),
                None => return exec_err!("unrecognized configuration parameter \"{}\"", names.value(row)),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    #[tokio::test]
    async fn settings_answer_as_postgres_does() {
        let p = startup_parameters();
        let ctx = SessionContext::new();
        ctx.register_udf(current_setting_udf(settings(&p)));
        let one = |sql: &'static str| {
            let ctx = ctx.clone();
            async move {
                let batches = ctx.sql(sql).await?.collect().await?;
                Ok::<_, datafusion::error::DataFusionError>(datafusion::arrow::util::pretty::pretty_format_batches(&batches)?.to_string())
            }
        };
        // Grafana's version probe.
        assert!(one("SELECT CAST(current_setting('server_version_num') AS INT) / 100 AS version").await.unwrap().contains("| 1600 "));
        assert!(one("SELECT current_setting('TimeZone') AS tz").await.unwrap().contains(&p.time_zone));
        assert!(one("SELECT current_setting('search_path') AS p").await.unwrap().contains("| public "));
        assert!(one("SELECT current_setting('transaction_read_only') AS ro").await.unwrap().contains("| on "));
        let err = one("SELECT current_setting('no_such_thing')").await.unwrap_err().to_string();
        assert!(err.contains("unrecognized configuration parameter \"no_such_thing\""), "{err}");
        assert!(one("SELECT current_setting('no_such_thing', true) IS NULL AS missing").await.unwrap().contains("true"));
    }

    #[test]
    fn version_numbers() {
        assert_eq!(version_num("16.6-pgwire-0.41.1"), "160006");
        assert_eq!(version_num("17.2"), "170002");
    }
}
