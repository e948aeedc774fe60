//! A TCP load balancer in front of several server instances, as in production: each new connection goes to an
//! instance that accepts it (in turn, or the first that is up), skipping any that refuses connections.
//! Connections to an instance that dies are cut, as a real balancer's would be.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Which instance a new connection tries first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// The next one in turn.
    RoundRobin,
    /// The first one (active/passive): every connection goes to the first instance while it is up.
    FirstAvailable,
}

pub struct Balancer {
    pub url: String,
    /// How many connections went to each backend, in order.
    served: Arc<Vec<AtomicUsize>>,
    task: JoinHandle<()>,
}

impl Balancer {
    /// Listens on a random port of 127.0.0.1 and spreads connections over `backends` (`http://host:port` URLs).
    pub async fn start(backends: &[&str], policy: Policy) -> Self {
        let backends: Vec<SocketAddr> = backends
            .iter()
            .map(|url| url.trim_start_matches("http://").parse().expect("host:port"))
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let served = Arc::new(backends.iter().map(|_| AtomicUsize::new(0)).collect::<Vec<_>>());
        let counters = served.clone();
        let task = tokio::spawn(async move {
            let next = AtomicUsize::new(0);
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let first = match policy {
                    Policy::RoundRobin => next.fetch_add(1, Ordering::Relaxed),
                    Policy::FirstAvailable => 0,
                };
                let mut upstream = None;
                for offset in 0..backends.len() {
                    let index = (first + offset) % backends.len();
                    if let Ok(stream) = TcpStream::connect(backends[index]).await {
                        counters[index].fetch_add(1, Ordering::Relaxed);
                        upstream = Some(stream);
                        break;
                    }
                }
                let Some(mut upstream) = upstream else { continue };
                tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                });
            }
        });
        Balancer { url, served, task }
    }

    /// Connections each backend received so far.
    pub fn served(&self) -> Vec<usize> {
        self.served.iter().map(|c| c.load(Ordering::Relaxed)).collect()
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
