//! Outgoing email: who gets the product notifications and how they travel.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{invalid, ConfigError};

/// The `[email]` section.
#[derive(Debug, Clone, Deserialize)]
pub struct EmailSettings {
    /// Receives an email for every product created (`APP__EMAIL__ADMIN_ADDRESS`).
    pub admin_address: String,
    /// The sender of every email.
    pub from_address: String,
    /// `smtp://` or `smtps://` URL (credentials inside): send through SMTP. Unset: write
    /// `.eml` files into `file_dir` instead.
    pub smtp_url: Option<SecretString>,
    /// Where `.eml` files go when no SMTP URL is set (`APP__EMAIL__FILE_DIR`); created
    /// when missing.
    pub file_dir: String,
}

impl EmailSettings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.admin_address.parse::<lettre::Address>().is_err() {
            return invalid(
                "email.admin_address (APP__EMAIL__ADMIN_ADDRESS)",
                "is not an email address",
            );
        }
        if self
            .from_address
            .parse::<lettre::message::Mailbox>()
            .is_err()
        {
            return invalid("email.from_address", "is not a mailbox");
        }
        if let Some(url) = &self.smtp_url {
            let scheme = url::Url::parse(url.expose_secret()).map(|u| u.scheme().to_string());
            if !matches!(scheme.as_deref(), Ok("smtp" | "smtps")) {
                // The URL may hold a password: never echo it.
                return invalid("email.smtp_url", "must be an smtp:// or smtps:// URL");
            }
        }
        if self.file_dir.trim().is_empty() {
            return invalid("email.file_dir (APP__EMAIL__FILE_DIR)", "must not be empty");
        }
        Ok(())
    }
}
