//! The answers PostgreSQL gives, on small tables split into several partitions
//! (so partial states are merged, as on real files).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};

/// A table `t(g, x, s)` over `rows`, one partition per chunk of three rows.
fn context(rows: &[(&str, Option<i64>, Option<&str>)]) -> SessionContext {
    let schema = Arc::new(Schema::new(vec![
        Field::new("g", DataType::Utf8, false),
        Field::new("x", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
    ]));
    let partitions = rows
        .chunks(3)
        .map(|chunk| {
            let g: ArrayRef = Arc::new(chunk.iter().map(|r| Some(r.0)).collect::<StringArray>());
            let x: ArrayRef = Arc::new(chunk.iter().map(|r| r.1).collect::<Int64Array>());
            let s: ArrayRef = Arc::new(chunk.iter().map(|r| r.2).collect::<StringArray>());
            vec![RecordBatch::try_new(schema.clone(), vec![g, x, s]).unwrap()]
        })
        .collect();
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(4));
    ctx.register_table("t", Arc::new(MemTable::try_new(schema, partitions).unwrap())).unwrap();
    super::register(&ctx);
    ctx
}

/// 1..=10 in a scrambled order, in group `a`.
fn one_to_ten() -> SessionContext {
    let rows: Vec<(&str, Option<i64>, Option<&str>)> = [7, 3, 10, 1, 9, 2, 8, 4, 6, 5].iter().map(|&x| ("a", Some(x), None)).collect();
    context(&rows)
}

/// The first column of the query's rows, as text.
async fn column(ctx: &SessionContext, sql: &str) -> Vec<String> {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let mut out = Vec::new();
    for b in &batches {
        for i in 0..b.num_rows() {
            out.push(datafusion::arrow::util::display::array_value_to_string(b.column(0), i).unwrap());
        }
    }
    out
}

async fn one(ctx: &SessionContext, sql: &str) -> String {
    let mut rows = column(ctx, sql).await;
    assert_eq!(rows.len(), 1, "{sql}");
    rows.remove(0)
}

#[tokio::test]
async fn percentile_disc_takes_the_value_at_the_rounded_up_position() {
    let ctx = one_to_ten();
    for (f, expected) in [("0", "1"), ("0.1", "1"), ("0.11", "2"), ("0.5", "5"), ("0.7", "7"), ("0.71", "8"), ("0.95", "10"), ("1", "10")] {
        let sql = format!("SELECT percentile_disc({f}) WITHIN GROUP (ORDER BY x) FROM t");
        assert_eq!(one(&ctx, &sql).await, expected, "{sql}");
    }
    assert_eq!(one(&ctx, "SELECT percentile_disc(x, 0.5) FROM t").await, "5");
    assert_eq!(one(&ctx, "SELECT percentile_disc(ARRAY[0, 0.5, 0.71, 1]) WITHIN GROUP (ORDER BY x) FROM t").await, "[1, 5, 8, 10]");
    assert_eq!(one(&ctx, "SELECT percentile_disc(ARRAY[0.25]) WITHIN GROUP (ORDER BY x DESC) FROM t").await, "[8]");
    // Descending: the 3rd of 10, 9, 8, …
    assert_eq!(one(&ctx, "SELECT percentile_disc(0.25) WITHIN GROUP (ORDER BY x DESC) FROM t").await, "8");
}

#[tokio::test]
async fn nulls_are_skipped_and_empty_groups_answer_null() {
    let ctx = context(&[("a", None, None), ("a", Some(3), Some("z")), ("a", Some(1), None), ("b", None, None), ("a", Some(2), None)]);
    let sql = "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x) FROM t GROUP BY g ORDER BY g";
    assert_eq!(column(&ctx, sql).await, ["2", ""]);
    assert_eq!(one(&ctx, "SELECT percentile_disc(NULL) WITHIN GROUP (ORDER BY x) FROM t").await, "");
    assert_eq!(one(&ctx, "SELECT mode() WITHIN GROUP (ORDER BY s) FROM t WHERE g = 'b'").await, "");
}

#[tokio::test]
async fn text_and_groups() {
    let ctx = context(&[
        ("a", Some(1), Some("pear")),
        ("b", Some(5), Some("fig")),
        ("a", Some(2), Some("apple")),
        ("a", Some(3), Some("kiwi")),
        ("b", Some(4), Some("date")),
    ]);
    let sql = "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY s) FROM t GROUP BY g ORDER BY g";
    assert_eq!(column(&ctx, sql).await, ["kiwi", "date"]);
    let sql = "SELECT percentile_disc(1) WITHIN GROUP (ORDER BY x) FROM t GROUP BY g ORDER BY g";
    assert_eq!(column(&ctx, sql).await, ["3", "5"]);
}

#[tokio::test]
async fn mode_is_the_first_of_the_most_frequent_in_the_ordering() {
    let rows: Vec<(&str, Option<i64>, Option<&str>)> =
        [3, 1, 2, 3, 2, 9, 1, 2, 3].iter().map(|&x| ("a", Some(x), Some(if x == 9 { "b" } else { "a" }))).collect();
    let ctx = context(&rows);
    assert_eq!(one(&ctx, "SELECT mode() WITHIN GROUP (ORDER BY x) FROM t").await, "2");
    assert_eq!(one(&ctx, "SELECT mode() WITHIN GROUP (ORDER BY x DESC) FROM t").await, "3");
    assert_eq!(one(&ctx, "SELECT mode() WITHIN GROUP (ORDER BY s) FROM t").await, "a");
}

#[tokio::test]
async fn a_fraction_outside_zero_to_one_is_an_error_naming_it() {
    let ctx = one_to_ten();
    let err = ctx.sql("SELECT percentile_disc(1.5) WITHIN GROUP (ORDER BY x) FROM t").await.unwrap().collect().await.unwrap_err();
    assert!(err.to_string().contains("percentile value 1.5 is not between 0 and 1"), "{err}");
    let err = ctx.sql("SELECT percentile_disc(x) WITHIN GROUP (ORDER BY x) FROM t").await.unwrap().collect().await.unwrap_err();
    assert!(err.to_string().contains("the fraction must be a constant"), "{err}");
}
