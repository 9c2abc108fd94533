//! The two HTTP sides: a product write on A, a product read on B.

use anyhow::{bail, Context, Result};
use reqwest::{header, Client, StatusCode};

/// One answer of B to `GET /api/products/{id}`.
#[derive(Debug, PartialEq, Eq)]
pub struct Read {
    /// `"p{id}-v{version}"`: which version B served.
    pub etag: String,
    /// `HIT-L1`, `HIT-L2`, `MISS` or `STALE`: where it came from.
    pub x_cache: String,
}

impl Read {
    pub fn served_by_l1(&self) -> bool {
        self.x_cache == "HIT-L1"
    }
}

/// The ETag catalog-cache gives version `version` of product `id`.
pub fn etag_of(id: u64, version: u64) -> String {
    format!("\"p{id}-v{version}\"")
}

/// Reads B over ONE kept-alive connection: actix-web serves a connection on one worker
/// for its whole life, and each worker has its own L1, so the warm-up and the polls must
/// meet the same worker's L1.
pub struct Reader {
    client: Client,
    base: String,
}

impl Reader {
    pub fn new(base: &str) -> Result<Self> {
        let client = Client::builder()
            .pool_max_idle_per_host(1)
            .tcp_nodelay(true)
            .build()
            .context("building the reader's HTTP client")?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    pub async fn get(&self, id: u64) -> Result<Read> {
        let url = format!("{}/api/products/{id}", self.base);
        let response = self
            .client
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        if response.status() != StatusCode::OK {
            bail!("GET {url}: {}", response.status());
        }
        let header_text = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .with_context(|| format!("GET {url}: no {name} header"))
        };
        let read = Read {
            etag: header_text(header::ETAG.as_str())?,
            x_cache: header_text("x-cache")?,
        };
        // Drain the body so the connection is reused for the next poll.
        response
            .bytes()
            .await
            .with_context(|| format!("GET {url}: body"))?;
        Ok(read)
    }

    /// Reads until B serves product `id` from L1 (the first read fills this worker's L1).
    /// Twenty reads at once, then one every 10 ms for up to 2 s: a fill that spans an
    /// invalidation is not kept (the cache's epoch guard), and one run of the report
    /// once saw twenty quick reads all miss; a slow warm-up is said on stderr, since it
    /// is not part of what is measured (the time from the write to B's drop).
    pub async fn warm(&self, id: u64) -> Result<Read> {
        for attempt in 1..=220 {
            let read = self.get(id).await?;
            if read.served_by_l1() {
                if attempt > 20 {
                    eprintln!("propagation: product {id} came from B's L1 after {attempt} reads");
                }
                return Ok(read);
            }
            if attempt >= 20 {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
        bail!("product {id} never came from B's L1 in 220 reads over 2 s (is L1 on?)")
    }
}

/// Writes products on A with the admin bearer token.
pub struct Writer {
    client: Client,
    base: String,
    token: String,
}

impl Writer {
    pub fn new(base: &str, token: &str) -> Result<Self> {
        let client = Client::builder()
            .tcp_nodelay(true)
            .build()
            .context("building the writer's HTTP client")?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
        })
    }

    /// `PUT /api/products/{id} {"stock": stock}`; returns the ETag of the committed
    /// version (from the answer's `data.version`).
    pub async fn set_stock(&self, id: u64, stock: u64) -> Result<String> {
        let url = format!("{}/api/products/{id}", self.base);
        let response = self
            .client
            .put(&url)
            .bearer_auth(&self.token)
            .json(&serde_json::json!({ "stock": stock }))
            .send()
            .await
            .with_context(|| format!("PUT {url}"))?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .with_context(|| format!("PUT {url}: body"))?;
        if status != StatusCode::OK {
            bail!("PUT {url}: {status} {body}");
        }
        let version = body["data"]["version"]
            .as_u64()
            .with_context(|| format!("PUT {url}: no data.version in {body}"))?;
        Ok(etag_of(id, version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_has_the_service_shape() {
        assert_eq!(etag_of(12, 3), "\"p12-v3\"");
    }

    #[test]
    fn only_hit_l1_counts_as_l1() {
        let read = |x: &str| Read {
            etag: etag_of(1, 1),
            x_cache: x.into(),
        };
        assert!(read("HIT-L1").served_by_l1());
        for other in ["HIT-L2", "MISS", "STALE"] {
            assert!(!read(other).served_by_l1());
        }
    }
}
