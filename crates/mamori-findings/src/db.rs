//! One small SQL interface over SQLite and PostgreSQL, so the findings code
//! is written once. Statements use `$1`-style placeholders and portable SQL;
//! only the schema differs between the two.

use crate::FindingsError;

/// A value bound to or read from a statement.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    Int(i64),
    Text(String),
    Null,
}

impl Val {
    pub(crate) fn int(&self) -> i64 {
        match self {
            Val::Int(i) => *i,
            _ => 0,
        }
    }
    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            Val::Text(s) => Some(s),
            _ => None,
        }
    }
    pub(crate) fn string(&self) -> String {
        self.text().unwrap_or_default().to_owned()
    }
}

impl From<&str> for Val {
    fn from(s: &str) -> Val {
        Val::Text(s.to_owned())
    }
}
impl From<String> for Val {
    fn from(s: String) -> Val {
        Val::Text(s)
    }
}
impl From<i64> for Val {
    fn from(i: i64) -> Val {
        Val::Int(i)
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Val {
        v.map_or(Val::Null, Into::into)
    }
}

pub(crate) type Row = Vec<Val>;

enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<postgres::Client>),
}

/// A connection to the findings database.
pub(crate) struct Db {
    conn: Conn,
    /// Where, for error messages (a PostgreSQL URL without its password).
    pub(crate) name: String,
}

/// A NULL PostgreSQL accepts for a parameter of any type.
#[derive(Debug)]
struct AnyNull;

impl postgres::types::ToSql for AnyNull {
    fn to_sql(
        &self,
        _: &postgres::types::Type,
        _: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        Ok(postgres::types::IsNull::Yes)
    }
    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }
    postgres::types::to_sql_checked!();
}

/// SQLite numbers `$N` parameters in order of appearance; `?N` by N.
fn sqlite_sql(sql: &str) -> String {
    sql.replace('$', "?")
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or_default();
            format!("{}://{user}@{}", &url[..s], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

impl Db {
    /// Opens `target`: a `postgres://` or `postgresql://` URL, else a SQLite
    /// file path (an optional `sqlite:` prefix is dropped).
    pub(crate) fn open(target: &str) -> Result<Db, FindingsError> {
        if target.starts_with("postgres://") || target.starts_with("postgresql://") {
            let name = redact(target);
            let client = postgres::Client::connect(target, postgres::NoTls)
                .map_err(|e| FindingsError::db(&name, e))?;
            Ok(Db {
                conn: Conn::Postgres(Box::new(client)),
                name,
            })
        } else {
            let path = target.strip_prefix("sqlite:").unwrap_or(target);
            if let Some(dir) = std::path::Path::new(path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| FindingsError::db(path, e))?;
                }
            }
            let conn = rusqlite::Connection::open(path).map_err(|e| FindingsError::db(path, e))?;
            conn.busy_timeout(std::time::Duration::from_secs(10))
                .map_err(|e| FindingsError::db(path, e))?;
            // WAL lets readers (the console, `findings list`) run beside a writer.
            conn.execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
            )
            .map_err(|e| FindingsError::db(path, e))?;
            Ok(Db {
                conn: Conn::Sqlite(conn),
                name: path.to_owned(),
            })
        }
    }

    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self.conn, Conn::Postgres(_))
    }

    /// Runs statements without parameters (schema, transactions).
    pub(crate) fn batch(&mut self, sql: &str) -> Result<(), FindingsError> {
        let name = &self.name;
        match &mut self.conn {
            Conn::Sqlite(c) => c.execute_batch(sql).map_err(|e| FindingsError::db(name, e)),
            Conn::Postgres(c) => c.batch_execute(sql).map_err(|e| FindingsError::db(name, e)),
        }
    }

    /// Runs one statement; returns the rows it changed.
    pub(crate) fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, FindingsError> {
        let name = &self.name;
        match &mut self.conn {
            Conn::Sqlite(c) => {
                let mut st = c
                    .prepare_cached(&sqlite_sql(sql))
                    .map_err(|e| FindingsError::db(name, e))?;
                let n = st
                    .execute(rusqlite::params_from_iter(params.iter().map(sqlite_val)))
                    .map_err(|e| FindingsError::db(name, e))?;
                Ok(n as u64)
            }
            Conn::Postgres(c) => {
                let boxed = pg_params(params);
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                    boxed.iter().map(|b| b.as_ref()).collect();
                c.execute(sql, &refs)
                    .map_err(|e| FindingsError::db(name, e))
            }
        }
    }

    /// Runs a query; returns its rows.
    pub(crate) fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, FindingsError> {
        let name = &self.name;
        match &mut self.conn {
            Conn::Sqlite(c) => {
                let mut st = c
                    .prepare_cached(&sqlite_sql(sql))
                    .map_err(|e| FindingsError::db(name, e))?;
                let cols = st.column_count();
                let mut rows = st
                    .query(rusqlite::params_from_iter(params.iter().map(sqlite_val)))
                    .map_err(|e| FindingsError::db(name, e))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next().map_err(|e| FindingsError::db(name, e))? {
                    let mut row = Vec::with_capacity(cols);
                    for i in 0..cols {
                        row.push(
                            match r.get_ref(i).map_err(|e| FindingsError::db(name, e))? {
                                rusqlite::types::ValueRef::Integer(i) => Val::Int(i),
                                rusqlite::types::ValueRef::Text(t) => {
                                    Val::Text(String::from_utf8_lossy(t).into_owned())
                                }
                                rusqlite::types::ValueRef::Real(f) => Val::Int(f as i64),
                                _ => Val::Null,
                            },
                        );
                    }
                    out.push(row);
                }
                Ok(out)
            }
            Conn::Postgres(c) => {
                let boxed = pg_params(params);
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                    boxed.iter().map(|b| b.as_ref()).collect();
                let rows = c
                    .query(sql, &refs)
                    .map_err(|e| FindingsError::db(name, e))?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    let mut row = Vec::with_capacity(r.len());
                    for (i, col) in r.columns().iter().enumerate() {
                        use postgres::types::Type;
                        let v = match *col.type_() {
                            Type::INT8 => r.try_get::<_, Option<i64>>(i).map(|v| v.map(Val::Int)),
                            Type::INT4 => r
                                .try_get::<_, Option<i32>>(i)
                                .map(|v| v.map(|x| Val::Int(x.into()))),
                            _ => r.try_get::<_, Option<String>>(i).map(|v| v.map(Val::Text)),
                        }
                        .map_err(|e| FindingsError::db(name, e))?;
                        row.push(v.unwrap_or(Val::Null));
                    }
                    out.push(row);
                }
                Ok(out)
            }
        }
    }

    /// Runs `f` in one transaction: all of it is durable, or none of it.
    pub(crate) fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut Db) -> Result<T, FindingsError>,
    ) -> Result<T, FindingsError> {
        // IMMEDIATE: SQLite takes the write lock now rather than failing to
        // upgrade a read lock later when another writer got there first.
        self.batch(if self.is_postgres() {
            "BEGIN"
        } else {
            "BEGIN IMMEDIATE"
        })?;
        match f(self) {
            Ok(v) => {
                self.batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                // The error that matters is the first; a failed rollback
                // leaves the transaction to be discarded with the connection.
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

fn sqlite_val(v: &Val) -> rusqlite::types::Value {
    match v {
        Val::Int(i) => rusqlite::types::Value::Integer(*i),
        Val::Text(s) => rusqlite::types::Value::Text(s.clone()),
        Val::Null => rusqlite::types::Value::Null,
    }
}

fn pg_params(params: &[Val]) -> Vec<Box<dyn postgres::types::ToSql + Sync>> {
    params
        .iter()
        .map(|v| -> Box<dyn postgres::types::ToSql + Sync> {
            match v {
                Val::Int(i) => Box::new(*i),
                Val::Text(s) => Box::new(s.clone()),
                Val::Null => Box::new(AnyNull),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_is_named_without_its_password() {
        assert_eq!(
            redact("postgres://mamori:s3cret@127.0.0.1:5432/findings"),
            "postgres://mamori@127.0.0.1:5432/findings"
        );
        assert_eq!(redact("findings.db"), "findings.db");
    }

    #[test]
    fn sqlite_binds_numbered_parameters_by_number() -> Result<(), FindingsError> {
        let dir = tempfile::tempdir().map_err(|e| FindingsError::db("tmp", e))?;
        let path = dir.path().join("t.db");
        let mut db = Db::open(path.to_str().unwrap_or_default())?;
        db.batch("CREATE TABLE t (a TEXT, b BIGINT)")?;
        // $2 before $1: bound by number, not by order of appearance.
        db.exec(
            "INSERT INTO t (b, a) VALUES ($2, $1)",
            &["x".into(), 7i64.into()],
        )?;
        let rows = db.query("SELECT a, b FROM t WHERE b = $1", &[7i64.into()])?;
        assert_eq!(rows, vec![vec![Val::Text("x".into()), Val::Int(7)]]);
        Ok(())
    }
}
