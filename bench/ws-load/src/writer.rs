//! The updates: `PUT /api/products/{id}` on the write instance, one at a time, each
//! carrying its send time in the description.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::time::MissedTickBehavior;
use url::Url;

use crate::client::micros_since;
use crate::stamp::Stamp;

/// A write that takes longer counts as failed.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the writes are and how they are paced.
pub struct Plan {
    pub base: Url,
    pub admin_token: String,
    pub updates: u32,
    pub interval: Duration,
    /// Updates cycle over products 1..=products.
    pub products: u32,
    pub tag: Arc<str>,
    pub epoch: Instant,
}

/// How the writes went.
#[derive(Debug, Default)]
pub struct WriteReport {
    /// Writes answered 200: each one's event must reach every client.
    pub ok: u32,
    pub failed: u32,
    pub first_failure: Option<String>,
    /// HTTP round trip of each successful write, µs.
    pub latencies_us: Vec<u64>,
    /// The same by update (`None`: the write failed).
    pub by_update_us: Vec<Option<u64>>,
}

/// Makes the updates, paced `interval` apart (start to start; a slow write delays the
/// next rather than bunching them).
pub async fn run(plan: &Plan) -> anyhow::Result<WriteReport> {
    let http = reqwest::Client::builder()
        .timeout(WRITE_TIMEOUT)
        .build()
        .context("building the HTTP client")?;
    let mut ticks = tokio::time::interval(plan.interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut report = WriteReport::default();
    for seq in 0..plan.updates {
        ticks.tick().await;
        let id = seq % plan.products + 1;
        let url = plan
            .base
            .join(&format!("api/products/{id}"))
            .context("building the product URL")?;
        let sent_us = micros_since(plan.epoch);
        let body =
            serde_json::json!({ "description": Stamp { seq, sent_us }.description(&plan.tag) });
        let answer = http
            .put(url)
            .bearer_auth(&plan.admin_token)
            .json(&body)
            .send()
            .await;
        let outcome = match answer {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                Err(format!(
                    "{status}: {}",
                    text.chars().take(200).collect::<String>()
                ))
            }
            Err(error) => Err(error.to_string()),
        };
        match outcome {
            Ok(()) => {
                report.ok += 1;
                let took = micros_since(plan.epoch).saturating_sub(sent_us);
                report.latencies_us.push(took);
                report.by_update_us.push(Some(took));
            }
            Err(why) => {
                report.by_update_us.push(None);
                report.failed += 1;
                report.first_failure.get_or_insert(why);
            }
        }
    }
    Ok(report)
}
