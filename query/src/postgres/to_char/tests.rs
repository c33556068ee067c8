//! Templates against the text PostgreSQL 15 writes for them (`SET TimeZone =
//! 'UTC'; SELECT to_char(timestamptz '…', '…')`), through a session, so that
//! the function's registration and argument handling are covered too.

use datafusion::arrow::util::display::array_value_to_string;
use datafusion::prelude::SessionContext;

async fn to_char(ctx: &SessionContext, timestamp: &str, template: &str) -> String {
    let sql = format!("SELECT to_char(TIMESTAMP '{timestamp}' AT TIME ZONE 'UTC', '{}')", template.replace('\'', "''"));
    let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
    array_value_to_string(batches[0].column(0), 0).unwrap()
}

fn context() -> SessionContext {
    let ctx = SessionContext::new();
    super::register(&ctx);
    ctx
}

#[tokio::test]
async fn templates_are_written_as_postgresql_writes_them() {
    let ctx = context();
    let cases = [
        ("2026-12-07 05:06:07.123456", "YYYY-MM-DD HH24:MI:SS", "2026-12-07 05:06:07"),
        ("2026-12-07 05:06:07.123456", "yyyy-mm-dd hh24:mi", "2026-12-07 05:06"),
        ("2026-12-07 05:06:07.123456", "Day, DD  HH12:MI:SS", "Monday   , 07  05:06:07"),
        ("2026-12-07 05:06:07.123456", "FMDay, FMDD  HH12:MI:SS AM", "Monday, 7  05:06:07 AM"),
        ("2024-02-29 12:00:00", "FMDay, FMDD  HH12:MI:SS AM", "Thursday, 29  12:00:00 PM"),
        ("2024-02-29 12:00:00", "Month|Mon|MONTH|mon|month", "February |Feb|FEBRUARY |feb|february "),
        ("2024-02-29 12:00:00", "Dy DY dy Day DAY day", "Thu THU thu Thursday  THURSDAY  thursday "),
        ("2027-01-01 23:59:59.999999", "DDth DDTH FMDDth", "01st 01ST 1st"),
        ("2024-02-29 12:00:00", "Y,YYY YYY YY Y IYYY IW ID IDDD D DDD WW W Q CC J", "2,024 024 24 4 2024 09 4 060 5 060 09 5 1 21 2460370"),
        ("2027-01-01 23:59:59.999999", "Y,YYY YYY YY Y IYYY IW ID IDDD D DDD WW W Q CC J", "2,027 027 27 7 2026 53 5 369 6 001 01 1 1 21 2461407"),
        ("2026-12-07 05:06:07.123456", "MS US FF1 FF3 FF6 SSSS", "123 123456 1 123 123456 18367"),
        ("2026-12-07 05:06:07.123456", "TZ tz OF TZH:TZM", "UTC utc +00 +00:00"),
        ("2026-12-07 05:06:07.123456", "RM|rm|FMRM", "XII |xii |XII"),
        // Unquoted letters that are patterns are patterns (`i`: the ISO year's last digit).
        ("2026-12-07 05:06:07.123456", "\"Time:\" HH24 Time", "Time: 05 T6me"),
        ("2024-02-29 12:00:00", "a.m. P.M. ad BC", "p.m. P.M. ad AD"),
        ("2024-02-29 12:00:00", "\\\"quoted\\\" \"a\\\"b\"", "\"1uote5\" a\"b"),
    ];
    for (timestamp, template, postgres) in cases {
        assert_eq!(to_char(&ctx, timestamp, template).await, postgres, "to_char({timestamp}, {template})");
    }
}

#[tokio::test]
async fn strftime_formats_still_go_to_datafusion() {
    let ctx = context();
    assert_eq!(to_char(&ctx, "2026-12-07 05:06:07", "%Y/%m/%d %H:%M").await, "2026/12/07 05:06");
}

#[tokio::test]
async fn dates_nulls_and_other_types() {
    let ctx = context();
    let batches = ctx.sql("SELECT to_char(DATE '2026-03-01', 'FMMonth DDth, YYYY'), to_char(CAST(NULL AS TIMESTAMP), 'YYYY')").await.unwrap().collect().await.unwrap();
    assert_eq!(array_value_to_string(batches[0].column(0), 0).unwrap(), "March 01st, 2026");
    assert!(batches[0].column(1).is_null(0));
    let err = ctx.sql("SELECT to_char(TIME '10:00:00', 'HH24')").await.unwrap().collect().await.unwrap_err();
    assert!(err.to_string().contains("formats a timestamp or a date"), "{err}");
}
