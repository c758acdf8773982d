//! `Db` on SQLite through rusqlite, applying the same `migrations/*.sql` files that
//! `wrangler d1 migrations apply` applies to D1.

use std::cell::RefCell;

use async_trait::async_trait;
use rusqlite::types::{Value as SqlData, ValueRef};
use rusqlite::{params_from_iter, Connection, ErrorCode};
use serde_json::{Map, Value};

use crate::runtime::{Db, DbError, Row, SqlValue, Statement};

pub struct SqliteDb {
    conn: RefCell<Connection>,
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
        SqliteDb { conn: RefCell::new(conn) }
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

fn db_error(e: rusqlite::Error) -> DbError {
    match e.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => DbError::Constraint(e.to_string()),
        _ => DbError::Other(e.to_string()),
    }
}

#[async_trait(?Send)]
impl Db for SqliteDb {
    async fn query(&self, sql: &str, params: &[SqlValue]) -> Result<Vec<Row>, DbError> {
        let conn = self.conn.borrow();
        let mut stmt = conn.prepare(sql).map_err(db_error)?;
        let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
        let mut rows = stmt.query(params_from_iter(to_sql(params))).map_err(db_error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(db_error)? {
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
            out.push(map);
        }
        Ok(out)
    }

    async fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<u64, DbError> {
        let conn = self.conn.borrow();
        conn.execute(sql, params_from_iter(to_sql(params))).map(|n| n as u64).map_err(db_error)
    }

    async fn batch(&self, statements: &[Statement]) -> Result<Vec<u64>, DbError> {
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
