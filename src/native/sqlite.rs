//! `Db` on SQLite through rusqlite, applying the same `migrations/*.sql` files that
//! `wrangler d1 migrations apply` applies to D1.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;

use async_trait::async_trait;
use rusqlite::types::{Value as SqlData, ValueRef};
use rusqlite::{params_from_iter, Connection, ErrorCode, StatementStatus};
use serde_json::{Map, Value};

use crate::runtime::{Db, DbError, Row, SqlValue, Statement};

thread_local! {
    static KNOWN_STATEMENTS: HashSet<String> = crate::store::statements().into_iter().collect();
}

pub struct SqliteDb {
    conn: RefCell<Connection>,
    /// Every statement sent through `Db`, in order, so tests can hold a request to a budget.
    sent: RefCell<Vec<String>>,
    /// Statements containing this text fail with that report, as a D1 outage would.
    failing: RefCell<Option<(String, String)>>,
    /// Virtual-machine steps of every query so far: the work SQLite did, independent of timing.
    vm_steps: Cell<u64>,
}

impl SqliteDb {
    pub fn in_memory_migrated() -> Self {
        let conn = Connection::open_in_memory().expect("SQLite opens in memory");
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .expect("migrations/ exists")
            .map(|e| e.expect("readable migrations/").path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        for file in files {
            let sql = std::fs::read_to_string(&file).expect("readable migration");
            conn.execute_batch(&sql).unwrap_or_else(|e| panic!("migration {} fails: {e}", file.display()));
        }
        SqliteDb {
            conn: RefCell::new(conn),
            sent: RefCell::default(),
            failing: RefCell::default(),
            vm_steps: Cell::new(0),
        }
    }

    /// Reads with raw SQL, for tests that inspect state directly (not counted in `sent`).
    /// Parameters, if any, are bound to NULL.
    pub fn rows(&self, sql: &str) -> Vec<Row> {
        let conn = self.conn.borrow();
        let mut stmt = conn.prepare(sql).expect("raw SQL prepares");
        let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
        let nulls = vec![SqlData::Null; stmt.parameter_count()];
        let mut rows = stmt.query(params_from_iter(nulls)).expect("raw SQL runs");
        let mut out = Vec::new();
        while let Some(row) = rows.next().expect("raw SQL reads") {
            out.push(to_row(&names, row).expect("raw SQL reads"));
        }
        out
    }

    /// SQLite's virtual-machine steps over every query sent through `Db` so far: how much a
    /// query read, as a count rather than a time.
    pub fn vm_steps(&self) -> u64 {
        self.vm_steps.get()
    }

    /// The statements sent through `Db` so far.
    pub fn sent(&self) -> Vec<String> {
        self.sent.borrow().clone()
    }

    /// Makes every statement that contains `fragment` fail (`None`: none fails).
    pub fn fail_statements_containing(&self, fragment: Option<&str>) {
        self.fail_statements_with(fragment, "injected failure");
    }

    /// Makes every statement that contains `fragment` fail as the database would report
    /// `message` (classified as the Worker classifies D1's reports: `DbError::from_message`).
    pub fn fail_statements_with(&self, fragment: Option<&str>, message: &str) {
        *self.failing.borrow_mut() = fragment.map(|f| (f.to_owned(), message.to_owned()));
    }

    /// The steps of SQLite's plan for `sql` (`EXPLAIN QUERY PLAN`'s detail column).
    pub fn plan(&self, sql: &str) -> Vec<String> {
        let rows = self.rows(&format!("EXPLAIN QUERY PLAN {sql}"));
        rows.iter().filter_map(|r| r.get("detail").and_then(Value::as_str).map(str::to_owned)).collect()
    }

    fn admit(&self, sql: &str) -> Result<(), DbError> {
        // Only statements whose plans tests/query_plans.rs checks may run.
        let known = KNOWN_STATEMENTS.with(|known| known.contains(sql));
        assert!(known, "a statement missing from store::statements() (so its plan is never checked): {sql}");
        self.sent.borrow_mut().push(sql.to_owned());
        match self.failing.borrow().as_ref() {
            Some((fragment, message)) if sql.contains(fragment.as_str()) => Err(DbError::from_message(message.clone())),
            _ => Ok(()),
        }
    }

    /// Runs raw SQL, for tests that arrange or inspect state directly.
    pub fn exec_raw(&self, sql: &str) {
        self.conn.borrow().execute_batch(sql).expect("raw SQL runs");
    }
}

fn to_sql(values: &[SqlValue]) -> Vec<SqlData> {
    values
        .iter()
        .map(|v| match v {
            SqlValue::Null => SqlData::Null,
            SqlValue::Int(n) => SqlData::Integer(*n),
            SqlValue::Text(s) => SqlData::Text(s.clone()),
        })
        .collect()
}

fn to_row(names: &[String], row: &rusqlite::Row<'_>) -> Result<Row, DbError> {
    let mut map = Map::new();
    for (i, name) in names.iter().enumerate() {
        let value = match row.get_ref(i).map_err(db_error)? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(n) => Value::from(n),
            ValueRef::Real(f) => Value::from(f),
            ValueRef::Text(t) => Value::from(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(_) => return Err(DbError::Other("blob columns are not used".into())),
        };
        map.insert(name.clone(), value);
    }
    Ok(map)
}

fn db_error(e: rusqlite::Error) -> DbError {
    match e.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => DbError::Constraint(e.to_string()),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => DbError::Unavailable(e.to_string()),
        _ => DbError::Other(e.to_string()),
    }
}

#[async_trait(?Send)]
impl Db for SqliteDb {
    async fn query(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, DbError> {
        self.admit(sql)?;
        let conn = self.conn.borrow();
        let mut stmt = conn.prepare(sql).map_err(db_error)?;
        let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
        let mut rows = stmt.query(params_from_iter(to_sql(params))).map_err(db_error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(db_error)? {
            out.push(to_row(&names, row)?);
        }
        drop(rows);
        self.vm_steps.set(self.vm_steps.get() + stmt.get_status(StatementStatus::VmStep) as u64);
        Ok(out)
    }

    async fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64, DbError> {
        self.admit(sql)?;
        let conn = self.conn.borrow();
        conn.execute(sql, params_from_iter(to_sql(params))).map(|n| n as u64).map_err(db_error)
    }

    async fn batch(&self, statements: &[Statement]) -> Result<Vec<u64>, DbError> {
        for s in statements {
            self.admit(s.sql)?;
        }
        let mut conn = self.conn.borrow_mut();
        let tx = conn.transaction().map_err(db_error)?;
        let mut changed = Vec::with_capacity(statements.len());
        for s in statements {
            // Stepped as a query: D1 batches may hold statements that return rows (RETURNING).
            let mut stmt = tx.prepare(s.sql).map_err(db_error)?;
            let mut rows = stmt.query(params_from_iter(to_sql(&s.params))).map_err(db_error)?;
            while rows.next().map_err(db_error)?.is_some() {}
            drop(rows);
            drop(stmt);
            changed.push(tx.changes());
        }
        tx.commit().map_err(db_error)?;
        Ok(changed)
    }
}
