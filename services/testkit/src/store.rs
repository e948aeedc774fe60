//! The store a test server runs on. `CLUSTERCONFIG_E2E_STORE` chooses it for the whole end-to-end suite:
//! `sqlite` (the default: a file in the server's data directory), `postgres` (a database of its own on the test
//! server, see `postgres`) or `cosmos` (a database of its own on the emulator, see `cosmos`).

use std::path::Path;
use std::sync::Arc;

use crate::block_on;
use crate::cosmos::TestCosmos;
use crate::postgres::TestDatabase;

pub const STORE_VARIABLE: &str = "CLUSTERCONFIG_E2E_STORE";

/// Where a test server keeps its data; clones share it (a restarted server, a second instance).
#[derive(Clone)]
pub enum TestStore {
    Sqlite,
    Postgres(Arc<TestDatabase>),
    Cosmos(Arc<TestCosmos>),
}

impl TestStore {
    /// The store `CLUSTERCONFIG_E2E_STORE` names, made fresh.
    pub fn from_env() -> Self {
        match std::env::var(STORE_VARIABLE).as_deref() {
            Err(_) | Ok("") | Ok("sqlite") => TestStore::Sqlite,
            Ok("postgres") => Self::postgres(),
            Ok("cosmos") => Self::cosmos(),
            Ok(other) => panic!("{STORE_VARIABLE}={other}: expected sqlite, postgres or cosmos"),
        }
    }

    /// A fresh PostgreSQL database.
    pub fn postgres() -> Self {
        TestStore::Postgres(Arc::new(block_on(TestDatabase::create())))
    }

    /// A fresh Cosmos DB database.
    pub fn cosmos() -> Self {
        TestStore::Cosmos(Arc::new(TestCosmos::create()))
    }

    pub fn name(&self) -> &'static str {
        match self {
            TestStore::Sqlite => "sqlite",
            TestStore::Postgres(_) => "postgres",
            TestStore::Cosmos(_) => "cosmos",
        }
    }

    /// The server's configuration for this store.
    pub fn server_env(&self) -> Vec<(String, String)> {
        match self {
            TestStore::Sqlite => vec![("CLUSTERCONFIG_STORE__KIND".into(), "sqlite".into())],
            TestStore::Postgres(database) => vec![
                ("CLUSTERCONFIG_STORE__KIND".into(), "postgres".into()),
                ("CLUSTERCONFIG_STORE__POSTGRES__URL".into(), database.url.clone()),
            ],
            TestStore::Cosmos(cosmos) => cosmos.server_env(),
        }
    }

    /// Everything the store holds, as named blobs, for scans of what reached it: the SQLite files of the data
    /// directory; every PostgreSQL column (binary columns as their bytes, the rest as text); every Cosmos DB item.
    pub fn contents(&self, data_dir: &Path) -> Vec<(String, Vec<u8>)> {
        match self {
            TestStore::Sqlite => std::fs::read_dir(data_dir)
                .expect("data directory")
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| path.to_string_lossy().contains("clusterconfig.db"))
                .map(|path| {
                    (
                        path.display().to_string(),
                        std::fs::read(&path).expect("store file"),
                    )
                })
                .collect(),
            TestStore::Postgres(database) => block_on(postgres_contents(database.url.clone())),
            TestStore::Cosmos(cosmos) => {
                block_on(cosmos_contents(cosmos.endpoint.clone(), cosmos.database.clone()))
            }
        }
    }
}

async fn postgres_contents(url: String) -> Vec<(String, Vec<u8>)> {
    use sqlx::{Connection, Row};
    let mut connection = sqlx::PgConnection::connect(&url).await.expect("connect");
    let columns = sqlx::query(
        "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns
         WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&mut connection)
    .await
    .expect("columns");
    let mut out = Vec::new();
    for column in columns {
        let (table, name, kind): (String, String, String) = (column.get(0), column.get(1), column.get(2));
        let sql = if kind == "bytea" {
            format!("SELECT \"{name}\" FROM \"{table}\" WHERE \"{name}\" IS NOT NULL")
        } else {
            format!(
                "SELECT convert_to(\"{name}\"::text, 'UTF8') FROM \"{table}\" WHERE \"{name}\" IS NOT NULL"
            )
        };
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut connection)
            .await
            .expect("rows");
        let bytes: Vec<u8> = rows
            .iter()
            .flat_map(|row| {
                let mut value: Vec<u8> = row.get(0);
                value.push(b'\n');
                value
            })
            .collect();
        out.push((format!("{table}.{name}"), bytes));
    }
    out
}

async fn cosmos_contents(endpoint: String, database: String) -> Vec<(String, Vec<u8>)> {
    // The emulator does not check authorization: its document feed is a plain GET.
    let url = format!("{endpoint}dbs/{database}/colls/clusterconfig/docs");
    let client = reqwest::Client::new();
    let mut out = Vec::new();
    let mut continuation: Option<String> = None;
    loop {
        let mut request = client.get(&url).header("x-ms-max-item-count", "1000");
        if let Some(token) = &continuation {
            request = request.header("x-ms-continuation", token);
        }
        let response = request.send().await.expect("the emulator answers");
        assert!(response.status().is_success(), "{}", response.status());
        continuation = response
            .headers()
            .get("x-ms-continuation")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body: serde_json::Value = response.json().await.expect("json");
        for doc in body["Documents"].as_array().cloned().unwrap_or_default() {
            let id = doc["id"].as_str().unwrap_or_default().to_owned();
            out.push((format!("cosmos item {id}"), doc.to_string().into_bytes()));
        }
        if continuation.is_none() {
            return out;
        }
    }
}
