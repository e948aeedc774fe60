//! The change feed (pull model) turned into `FeedEvent`s: every change replaces the cluster's own item, so the
//! feed's cluster items say which cluster reached which version, whichever instance wrote it.
//!
//! The feed's continuation token is this instance's checkpoint: kept in memory across reconnects, and saved
//! in the container (`feed-checkpoints`, one item per instance name) so a restarted instance resumes where it
//! stopped. Whenever the feed has to start from "now" instead, changes may have gone unseen: it says `Resync`.

use clusterconfig_retry::RECONNECT;
use std::time::Duration;

use azure_data_cosmos::ContainerClient;
use azure_data_cosmos::feed::{ContinuationToken, FeedScope};
use azure_data_cosmos::options::{ChangeFeedOptions, ChangeFeedStartFrom, MaxItemCountHint};
use chrono::Utc;
use futures::StreamExt;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

use super::documents::{CHECKPOINTS_PK, CheckpointDoc, Doc, id_part};
use crate::{ChangeFeed, FeedEvent, to_millis};

#[derive(Debug, Clone)]
pub(super) struct FeedSettings {
    pub poll_interval: Duration,
    pub checkpoint_interval: Duration,
    pub request_timeout: Duration,
    pub instance: String,
}

/// A saved token that fails to open this many times in a row is given up for "now".
const TOKEN_ATTEMPTS: u32 = 3;

/// The fields of a changed item the feed needs; the rest (bodies) is skipped.
#[derive(Deserialize)]
struct Changed {
    #[serde(default)]
    doc: String,
    #[serde(default)]
    cluster: Option<String>,
    #[serde(default)]
    version: Option<u64>,
}

pub(super) fn spawn(container: ContainerClient, settings: FeedSettings) -> ChangeFeed {
    let (sender, receiver) = mpsc::channel::<FeedEvent>(1024);
    tokio::spawn(async move {
        let mut follower = Follower {
            container,
            settings,
            sender,
        };
        let closed = follower.sender.clone();
        tokio::select! {
            _ = closed.closed() => {}
            _ = follower.run() => {}
        }
    });
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (event, receiver))
    })
    .boxed()
}

struct Follower {
    container: ContainerClient,
    settings: FeedSettings,
    sender: mpsc::Sender<FeedEvent>,
}

impl Follower {
    fn checkpoint_id(&self) -> String {
        id_part(&self.settings.instance)
    }

    async fn run(&mut self) {
        let mut token = self.load_checkpoint().await;
        let mut saved = token.clone();
        // Consecutive failures since the last page that came back: a token that keeps failing is given up.
        let mut failures = 0;
        let mut reconnect = RECONNECT.delays();
        loop {
            if failures >= TOKEN_ATTEMPTS && token.take().is_some() {
                tracing::warn!("giving up the change feed checkpoint; following changes from now");
            }
            let mut options = ChangeFeedOptions::default().with_max_item_count(MaxItemCountHint::Limit(
                std::num::NonZeroU32::new(1000).expect("non-zero"),
            ));
            if let Some(token) = &token {
                options = options.with_continuation_token(ContinuationToken::from_string(token.clone()));
            }
            let opened = timeout(
                self.settings.request_timeout,
                self.container.query_change_feed::<Changed>(
                    FeedScope::full_container(),
                    ChangeFeedStartFrom::Now,
                    Some(options),
                ),
            )
            .await;
            let mut feed = match opened {
                Ok(Ok(feed)) => {
                    reconnect = RECONNECT.delays();
                    feed
                }
                failed => {
                    let error = match failed {
                        Ok(Err(err)) => err.to_string(),
                        _ => "timed out".to_owned(),
                    };
                    tracing::warn!(%error, "cannot open the Cosmos DB change feed; retrying");
                    failures += 1;
                    tokio::time::sleep(reconnect.next().unwrap_or(RECONNECT.max)).await;
                    continue;
                }
            };
            // From "now": what happened before is unknown to this feed. Once every range has answered, its start
            // is fixed, and waiters are told to look at the store again.
            let mut resync_after = token.is_none().then_some(0usize);
            let ranges = timeout(
                self.settings.request_timeout,
                self.container.read_feed_ranges(None),
            )
            .await
            .ok()
            .and_then(|ranges| ranges.ok())
            .map_or(1, |ranges| ranges.len().max(1));
            let mut quiet = 0;
            // Whether the token moved past anything but checkpoints (saving for those alone would feed itself).
            let mut progressed = false;
            let mut last_save = Instant::now();
            loop {
                match timeout(self.settings.request_timeout, feed.next()).await {
                    Ok(Some(Ok(page))) => {
                        failures = 0;
                        if page.items().is_empty() {
                            // The feed polls its ranges in turn: a full round of empty pages means caught up.
                            quiet += 1;
                        } else {
                            quiet = 0;
                        }
                        for item in page.items() {
                            let Some(changed) = item.current() else { continue };
                            if changed.doc != "checkpoint" {
                                progressed = true;
                            }
                            if let (true, Some(cluster), Some(version)) =
                                (changed.doc == "cluster", &changed.cluster, changed.version)
                            {
                                let event = FeedEvent::Changed {
                                    cluster: cluster.clone(),
                                    version,
                                };
                                if self.sender.send(event).await.is_err() {
                                    return;
                                }
                            }
                        }
                        if let Ok(next) = feed.to_continuation_token() {
                            token = Some(next.as_str().to_owned());
                        }
                        if let Some(pages) = resync_after.as_mut() {
                            *pages += 1;
                            if *pages >= ranges {
                                resync_after = None;
                                let _ = self.sender.send(FeedEvent::Resync).await;
                            }
                        }
                        if progressed
                            && token != saved
                            && last_save.elapsed() >= self.settings.checkpoint_interval
                        {
                            self.save_checkpoint(token.as_deref()).await;
                            saved = token.clone();
                            progressed = false;
                            last_save = Instant::now();
                        }
                        if quiet >= ranges {
                            quiet = 0;
                            tokio::time::sleep(self.settings.poll_interval).await;
                        }
                    }
                    Ok(Some(Err(err))) => {
                        failures += 1;
                        let status = u16::from(err.status().status_code());
                        // The service refuses the token itself (a recreated container, say): no retry helps.
                        if matches!(status, 400 | 404) && token.take().is_some() {
                            tracing::warn!(error = %err, "the Cosmos DB change feed refused its token; following changes from now");
                        } else {
                            tracing::warn!(error = %err, "the Cosmos DB change feed failed; resuming from its last token");
                        }
                        tokio::time::sleep(reconnect.next().unwrap_or(RECONNECT.max)).await;
                        break;
                    }
                    Ok(None) => {
                        tokio::time::sleep(self.settings.poll_interval).await;
                        break;
                    }
                    Err(_) => {
                        failures += 1;
                        tracing::warn!(
                            "the Cosmos DB change feed did not answer in time; resuming from its last token"
                        );
                        break;
                    }
                }
            }
        }
    }

    async fn load_checkpoint(&self) -> Option<String> {
        let read = timeout(
            self.settings.request_timeout,
            self.container
                .read_item(CHECKPOINTS_PK, &self.checkpoint_id(), None),
        )
        .await;
        match read {
            Ok(Ok(response)) => match response.into_model::<Doc>() {
                Ok(Doc::Checkpoint(checkpoint)) => Some(checkpoint.token),
                _ => None,
            },
            Ok(Err(err)) if u16::from(err.status().status_code()) == 404 => None,
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "cannot read the change feed checkpoint; following changes from now");
                None
            }
            Err(_) => None,
        }
    }

    async fn save_checkpoint(&self, token: Option<&str>) {
        let Some(token) = token else { return };
        let id = self.checkpoint_id();
        let doc = Doc::Checkpoint(CheckpointDoc {
            id: id.clone(),
            pk: CHECKPOINTS_PK.into(),
            token: token.to_owned(),
            updated_at: to_millis(Utc::now()),
            cosmos_etag: None,
        });
        let saved = timeout(
            self.settings.request_timeout,
            self.container.upsert_item(CHECKPOINTS_PK, &id, doc, None),
        )
        .await;
        if !matches!(saved, Ok(Ok(_))) {
            tracing::warn!(
                "cannot save the change feed checkpoint; a restart would resume from an older one"
            );
        }
    }
}
