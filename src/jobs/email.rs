//! The `email` queue's job: a product was created, so its admin gets an email naming it.
//!
//! Transport: SMTP through lettre when `email.smtp_url` is set; otherwise lettre's file
//! transport, which writes each email as an `.eml` file into `email.file_dir` (created
//! when missing), so development and tests get real, inspectable messages.

use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::configuration::EmailSettings;

/// The payload of an email job, written to the outbox with the product.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EmailJob {
    #[serde(rename_all = "camelCase")]
    ProductCreated {
        product_id: i64,
        name: String,
        category: String,
        /// As the API shows it, e.g. `"19.99"`.
        price: String,
    },
}

/// Why an email was not sent.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("bad email job payload: {0}")]
    Payload(#[from] serde_json::Error),
    #[error("could not build the email: {0}")]
    Build(String),
    #[error("could not send the email: {0}")]
    Send(String),
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>, std::path::PathBuf),
}

/// Sends emails; built once at start-up.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    to: Mailbox,
}

impl Mailer {
    /// Builds the transport the settings name (the file directory is made if missing).
    pub fn new(settings: &EmailSettings) -> anyhow::Result<Mailer> {
        let transport = match &settings.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .map_err(|e| anyhow::anyhow!("email.smtp_url: {e}"))?
                    .build(),
            ),
            None => {
                let dir = std::path::PathBuf::from(&settings.file_dir);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| anyhow::anyhow!("creating email.file_dir {dir:?}: {e}"))?;
                Transport::File(AsyncFileTransport::new(&dir), dir)
            }
        };
        Ok(Mailer {
            transport,
            from: settings
                .from_address
                .parse()
                .map_err(|e| anyhow::anyhow!("email.from_address: {e}"))?,
            to: settings
                .admin_address
                .parse()
                .map_err(|e| anyhow::anyhow!("email.admin_address: {e}"))?,
        })
    }

    /// Runs one email job.
    pub async fn handle(&self, payload: &serde_json::Value) -> Result<(), EmailError> {
        let job: EmailJob = serde_json::from_value(payload.clone())?;
        let message = self.message(&job)?;
        match &self.transport {
            Transport::Smtp(smtp) => smtp
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| EmailError::Send(e.to_string())),
            Transport::File(file, dir) => {
                // Someone may have removed the directory since start-up.
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| EmailError::Send(e.to_string()))?;
                file.send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| EmailError::Send(e.to_string()))
            }
        }
    }

    fn message(&self, job: &EmailJob) -> Result<Message, EmailError> {
        let EmailJob::ProductCreated {
            product_id,
            name,
            category,
            price,
        } = job;
        Message::builder()
            .from(self.from.clone())
            .to(self.to.clone())
            .subject(format!("New product: {name}"))
            .header(ContentType::TEXT_PLAIN)
            .body(format!(
                "A product was created.\n\nId: {product_id}\nName: {name}\n\
                 Category: {category}\nPrice: {price}\n"
            ))
            .map_err(|e| EmailError::Build(e.to_string()))
    }
}
