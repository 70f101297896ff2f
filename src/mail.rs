//! Outgoing mail: SMTP when `smtp_url` is set, otherwise one `.eml` file per message in the
//! outbox directory, so the embedded default needs no mail server and nothing is lost.

use anyhow::Context;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::Config;

pub enum Mailer {
    Smtp { transport: AsyncSmtpTransport<Tokio1Executor>, from: Mailbox },
    Outbox { transport: AsyncFileTransport<Tokio1Executor>, from: Mailbox, dir: std::path::PathBuf },
}

impl Mailer {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let from: Mailbox = config.mail_from.parse().context("`mail_from` is not a mailbox")?;
        if let Some(url) = &config.smtp_url {
            // The URL may hold a password: the error must not quote it.
            let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                .map_err(|_| anyhow::anyhow!("`smtp_url` is not a valid SMTP URL"))?
                .build();
            return Ok(Self::Smtp { transport, from });
        }
        let dir = config.outbox_dir();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating outbox {}", dir.display()))?;
        Ok(Self::Outbox { transport: AsyncFileTransport::new(&dir), from, dir })
    }

    /// Sends a plain-text message. The body is never logged: it may hold a one-time code.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> anyhow::Result<()> {
        let to: Mailbox = to.parse().context("recipient is not a mailbox")?;
        let from = match self {
            Self::Smtp { from, .. } | Self::Outbox { from, .. } => from.clone(),
        };
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .context("building the message")?;
        match self {
            Self::Smtp { transport, .. } => {
                transport.send(message).await.context("sending mail over SMTP")?;
                tracing::info!(subject, "mail sent");
            }
            Self::Outbox { transport, dir, .. } => {
                let id = transport.send(message).await.context("writing mail to the outbox")?;
                tracing::info!(subject, file = %dir.join(format!("{id}.eml")).display(), "mail written to the outbox");
            }
        }
        Ok(())
    }
}
