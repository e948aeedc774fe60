//! PostgreSQL for tests: the server named by `CLUSTERCONFIG_TEST_POSTGRES_URL` (scripts/test sets it, starting a
//! throwaway server when none runs), else the one on 127.0.0.1:5432. Each test gets a database of its own,
//! dropped when it is done.

use std::sync::OnceLock;

use sqlx::Connection;

pub const URL_VARIABLE: &str = "CLUSTERCONFIG_TEST_POSTGRES_URL";
const LOCAL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The administrative URL of the test server.
pub fn server_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| std::env::var(URL_VARIABLE).unwrap_or_else(|_| LOCAL.to_owned()))
        .clone()
}

/// A database that exists for one test.
pub struct TestDatabase {
    pub url: String,
    name: String,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let admin = server_url();
        let name = format!("clusterconfig_test_{}", uuid::Uuid::new_v4().simple());
        let mut connection = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|err| {
            panic!(
                "PostgreSQL tests need a server ({admin}: {err}). Run scripts/test, which starts one when none runs, \
                 or set {URL_VARIABLE}."
            )
        });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut connection)
            .await
            .expect("create database");
        let url = match admin.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("{admin} names no database"),
        };
        TestDatabase { url, name }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (server_url(), self.name.clone());
        crate::block_on(async move {
            if let Ok(mut connection) = sqlx::PgConnection::connect(&admin).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut connection)
                .await;
            }
        });
    }
}
