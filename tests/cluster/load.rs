//! A bounded load client: reader tasks over the demo products and one writer, through
//! nginx, until told to stop (and never past a hard deadline), counting every answer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

/// Each answer by status (0: no answer at all), for reads and writes apart.
#[derive(Default, Debug)]
pub struct Tally {
    pub reads: HashMap<u16, u64>,
    pub writes: HashMap<u16, u64>,
    /// The last acknowledged name of each product the writer changed.
    pub acknowledged: HashMap<i64, String>,
    /// Every acknowledged write, in order: (product, name). Names are unique.
    pub every_acknowledged: Vec<(i64, String)>,
}

impl Tally {
    pub fn failed_reads(&self) -> u64 {
        self.reads
            .iter()
            .filter(|(s, _)| **s != 200)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn count(&self, status: u16) -> u64 {
        self.reads.get(&status).copied().unwrap_or(0)
    }
}

pub struct Load {
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Nothing runs longer than this, whatever the test does.
const HARD_LIMIT: Duration = Duration::from_secs(60);

fn status_of(result: reqwest::Result<reqwest::Response>) -> u16 {
    result.map(|r| r.status().as_u16()).unwrap_or(0)
}

impl Load {
    /// `readers` tasks reading products 1..=20 as `clients` different clients (by
    /// X-Forwarded-For, believed by nginx with TRUST_LOOPBACK_XFF=1), and one writer
    /// renaming products 1..=5 every `write_every` with the admin token.
    pub fn start(
        url: &str,
        token: &str,
        readers: usize,
        clients: u32,
        write_every: Duration,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let deadline = Instant::now() + HARD_LIMIT;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        let mut tasks = Vec::new();
        for r in 0..readers {
            let (stop, tally, client, url) =
                (stop.clone(), tally.clone(), client.clone(), url.to_string());
            tasks.push(tokio::spawn(async move {
                let mut n: u32 = r as u32;
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    n = n.wrapping_add(readers as u32);
                    let who = n % clients;
                    let status = status_of(
                        client
                            .get(format!("{url}/api/products/{}", n % 20 + 1))
                            .header(
                                "X-Forwarded-For",
                                format!("10.9.{}.{}", who / 250, who % 250 + 1),
                            )
                            .send()
                            .await,
                    );
                    *tally
                        .lock()
                        .expect("tally")
                        .reads
                        .entry(status)
                        .or_default() += 1;
                }
            }));
        }
        let (stop_w, tally_w, url, token) = (
            stop.clone(),
            tally.clone(),
            url.to_string(),
            token.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let mut version = 0_u64;
            while !stop_w.load(Ordering::Relaxed) && Instant::now() < deadline {
                version += 1;
                let id = (version % 5 + 1) as i64;
                let name = format!("Written {version}");
                let status = status_of(
                    client
                        .put(format!("{url}/api/products/{id}"))
                        .bearer_auth(&token)
                        // A client of its own per write: products-update allows 20 an hour.
                        .header(
                            "X-Forwarded-For",
                            format!("10.8.{}.{}", version / 250 % 250, version % 250 + 1),
                        )
                        .json(&json!({"name": name}))
                        .send()
                        .await,
                );
                {
                    let mut t = tally_w.lock().expect("tally");
                    *t.writes.entry(status).or_default() += 1;
                    if status == 200 {
                        t.every_acknowledged.push((id, name.clone()));
                        t.acknowledged.insert(id, name);
                    }
                }
                tokio::time::sleep(write_every).await;
            }
        }));
        Load { stop, tally, tasks }
    }

    pub async fn finish(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
        Arc::try_unwrap(self.tally)
            .map(|m| m.into_inner().expect("tally"))
            .unwrap_or_default()
    }
}
