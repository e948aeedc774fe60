//! A TCP proxy in front of a server that loses chosen requests on the wire, as a reset connection or a server
//! that died mid-request would: a request whose head matches is read from the client, never forwarded, and its
//! connection is closed. Everything else passes through unchanged.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Which requests are lost: those whose first bytes start with `method` and whose request line contains
/// `path_contains`, up to `times` of them.
#[derive(Debug, Clone)]
pub struct Cut {
    pub method: &'static str,
    pub path_contains: &'static str,
    pub times: usize,
}

pub struct CuttingProxy {
    pub url: String,
    cut: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl CuttingProxy {
    /// Listens on a random port of 127.0.0.1 and forwards to `upstream` (`http://host:port`), which may be
    /// down for a while (a restarting server): a connection made then is refused by closing it.
    pub async fn start(upstream: &str, rule: Cut) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let cut = Arc::new(AtomicUsize::new(0));
        let counter = cut.clone();
        let rule = Arc::new(rule);
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                tokio::spawn(relay(client, server, rule.clone(), counter.clone()));
            }
        });
        CuttingProxy { url, cut, task }
    }

    /// How many requests were lost so far.
    pub fn cut(&self) -> usize {
        self.cut.load(Ordering::SeqCst)
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(mut client: TcpStream, server: TcpStream, rule: Arc<Cut>, cut: Arc<AtomicUsize>) {
    let (mut from_server, mut to_server) = server.into_split();
    let (mut from_client, mut to_client) = client.split();
    let downstream = tokio::io::copy(&mut from_server, &mut to_client);
    let upstream = async {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = from_client.read(&mut buffer).await?;
            if read == 0 {
                return Ok::<(), std::io::Error>(());
            }
            let chunk = &buffer[..read];
            if matches(&rule, chunk)
                && cut
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                        (n < rule.times).then_some(n + 1)
                    })
                    .is_ok()
            {
                // Lost: the client sent it, the server never sees it, the connection ends.
                return Ok(());
            }
            to_server.write_all(chunk).await?;
        }
    };
    tokio::select! {
        _ = downstream => {}
        _ = upstream => {}
    }
    let _ = client.shutdown().await;
}

fn matches(rule: &Cut, chunk: &[u8]) -> bool {
    let line_end = chunk.iter().position(|&b| b == b'\r').unwrap_or(chunk.len());
    let line = String::from_utf8_lossy(&chunk[..line_end]);
    line.starts_with(&format!("{} ", rule.method)) && line.contains(rule.path_contains)
}
