//! What slow, stalled and crowding clients may hold: a body that does not arrive, a head that stops half-way,
//! more connections than an instance takes, more long-polls than a cluster needs, and ARM requests the
//! service cannot answer in time. Each gets a clear answer within its limit (configured small here).
//! These are about the HTTP edge, not the store: the per-store reruns of the suite skip them.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use clusterconfig_testkit::{ARC, ServerOptions, ServerProcess, TestStore, cluster_id};

use crate::{FLUX_VERSION, git_config, resource};

fn address(server: &ServerProcess) -> String {
    server.url.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or `limit` passes); returns what came and when it ended.
async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
    .is_ok();
    (
        String::from_utf8_lossy(&received).into_owned(),
        closed.then(|| started.elapsed()),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_stalls_gets_408_within_the_body_timeout() {
    let server =
        ServerProcess::start(ServerOptions::default().env("CLUSTERCONFIG_HTTP__BODY_READ_TIMEOUT", "1s"));
    let token = server.arm_token();
    let path = resource(&cluster_id(ARC), "fluxConfigurations", "slow", FLUX_VERSION);
    let mut stream = TcpStream::connect(address(&server)).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[b' '; 100]).await.unwrap();
    let (response, closed) = read_to_close(&mut stream, Duration::from_secs(10)).await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("\"RequestTimeout\""), "{response}");
    assert!(closed.is_some(), "the connection is closed after the 408");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_head_that_stops_half_way_is_closed_within_the_header_timeout() {
    let server =
        ServerProcess::start(ServerOptions::default().env("CLUSTERCONFIG_HTTP__HEADER_READ_TIMEOUT", "1s"));
    let mut stream = TcpStream::connect(address(&server)).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Half: ")
        .await
        .unwrap();
    let (_, closed) = read_to_close(&mut stream, Duration::from_secs(10)).await;
    let closed = closed.expect("the server closed the connection");
    assert!(closed < Duration::from_secs(5), "closed after {closed:?}");
    assert_eq!(
        server.arm().get("/healthz").await.status,
        200,
        "others are served"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_beyond_the_limit_are_refused_with_503() {
    let server = ServerProcess::start(
        ServerOptions::default()
            .env("CLUSTERCONFIG_HTTP__MAX_CONNECTIONS", "4")
            .env("CLUSTERCONFIG_HTTP__HEADER_READ_TIMEOUT", "30s"),
    );
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(address(&server)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(address(&server)).await.unwrap();
    let (response, closed) = read_to_close(&mut extra, Duration::from_secs(5)).await;
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(response.contains("\"TooManyConnections\""), "{response}");
    assert!(closed.is_some());
    drop(held);
    let served = clusterconfig_testkit::process::eventually(Duration::from_secs(5), || async {
        reqwest::get(format!("{}/healthz", server.url))
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(served, "places free when connections close");
}

#[tokio::test(flavor = "multi_thread")]
async fn long_polls_beyond_the_per_cluster_limit_get_429() {
    let server = ServerProcess::start(
        ServerOptions::default().env("CLUSTERCONFIG_DATAPLANE__MAX_WAITERS_PER_CLUSTER", "3"),
    );
    let cluster = cluster_id(ARC);
    let token = server.agent_token(&cluster);
    let url = format!("{}/dataplane/v1{cluster}/desiredState", server.url);
    let http = reqwest::Client::new();
    let poll = || {
        http.get(&url)
            .bearer_auth(&token)
            .header("If-None-Match", "\"0\"")
            .header("Prefer", "wait=20")
            .send()
    };
    let waiting: Vec<_> = (0..3).map(|_| tokio::spawn(poll())).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let crowded = poll().await.unwrap();
    assert_eq!(crowded.status(), 429);
    let body: serde_json::Value = crowded.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TooManyWaiters", "{body}");
    for waiter in &waiting {
        assert!(!waiter.is_finished(), "the first three still wait");
    }
    let other = cluster_id(ARC);
    let other_poll = http
        .get(format!("{}/dataplane/v1{other}/desiredState", server.url))
        .bearer_auth(server.agent_token(&other))
        .header("If-None-Match", "\"0\"")
        .header("Prefer", "wait=1")
        .send()
        .await
        .unwrap();
    assert_eq!(other_poll.status(), 304, "another cluster is not affected");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_arm_request_the_store_cannot_serve_in_time_gets_503_within_the_deadline() {
    let server = ServerProcess::start(ServerOptions {
        store: Some(TestStore::Sqlite),
        ..ServerOptions::default()
            .env("CLUSTERCONFIG_ARM__REQUEST_TIMEOUT", "1s")
            .env("CLUSTERCONFIG_ARM__STATUS_WAIT", "200ms")
    });
    let arm = server.arm();
    let path = resource(&cluster_id(ARC), "fluxConfigurations", "late", FLUX_VERSION);
    // Another process holds SQLite's write lock for 6 s: the PUT's commit waits behind it.
    let database = server.data_dir.join("clusterconfig.db");
    let mut holder = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sqlite3, sys, time\n\
             c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
             c.execute('BEGIN EXCLUSIVE')\n\
             print('locked', flush=True)\n\
             time.sleep(6)\n",
        )
        .arg(&database)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");
    let started = Instant::now();
    let response = arm.put(&path, &git_config()).await;
    let took = started.elapsed();
    assert_eq!(response.status, 503, "{}", response.text);
    assert_eq!(response.error_code(), "OperationTimedOut", "{}", response.text);
    assert!(took < Duration::from_secs(4), "answered after {took:?}");
    let _ = holder.wait();
    // Once the store is free again the same PUT goes through.
    let retried = arm.put(&path, &git_config()).await;
    assert!(matches!(retried.status, 200 | 201), "{}", retried.text);
}
