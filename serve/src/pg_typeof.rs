//! `pg_typeof(value)` for the PostgreSQL endpoint: the PostgreSQL type the
//! value is sent as, named as PostgreSQL names it (`bigint`, `double
//! precision`, `timestamp with time zone`, `text[]`).

use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::scalar::ScalarValue;
use datafusion_postgres::arrow_pg::datatypes::into_pg_type;

/// The function, for the PostgreSQL session.
pub fn pg_typeof_udf() -> ScalarUDF {
    ScalarUDF::from(PgTypeOf { signature: Signature::any(1, Volatility::Immutable) })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PgTypeOf {
    signature: Signature,
}

/// PostgreSQL's name of a type sent as `t`: the `format_type` spelling of
/// its catalog name (`int8` is `bigint`).
fn type_name(t: &DataType) -> String {
    // Maps go out as JSON text (see `pg_types`).
    if matches!(t, DataType::Map(..)) {
        return "text".into();
    }
    let Ok(pg) = into_pg_type(t) else { return "unknown".into() };
    let (element, array) = match pg.name().strip_prefix('_') {
        Some(element) => (element, "[]"),
        None => (pg.name(), ""),
    };
    let element = match element {
        "bool" => "boolean",
        "int2" => "smallint",
        "int4" => "integer",
        "int8" => "bigint",
        "float4" => "real",
        "float8" => "double precision",
        "varchar" => "character varying",
        "bpchar" => "character",
        "time" => "time without time zone",
        "timestamp" => "timestamp without time zone",
        "timestamptz" => "timestamp with time zone",
        other => other,
    };
    format!("{element}{array}")
}

impl ScalarUDFImpl for PgTypeOf {
    fn name(&self) -> &str {
        "pg_typeof"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = type_name(&args.args[0].data_type());
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::datatypes::{Field, TimeUnit};

    use super::*;

    #[test]
    fn types_are_named_as_postgresql_names_them() {
        let list = |t: DataType| DataType::List(Arc::new(Field::new_list_field(t, true)));
        let cases = [
            (DataType::Int64, "bigint"),
            (DataType::Float64, "double precision"),
            (DataType::Utf8, "text"),
            (DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), "timestamp with time zone"),
            (DataType::Timestamp(TimeUnit::Microsecond, None), "timestamp without time zone"),
            (DataType::FixedSizeBinary(16), "bytea"),
            (list(DataType::Float64), "double precision[]"),
            (list(DataType::Utf8), "text[]"),
        ];
        for (t, name) in cases {
            assert_eq!(type_name(&t), name, "{t}");
        }
    }
}
