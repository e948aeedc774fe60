//! Logs: one place that decides their format and level. Request logs carry ids and outcomes, never bodies,
//! so secrets cannot reach them.

use tracing_subscriber::EnvFilter;

pub fn init(format: &str, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // PostgreSQL's notices ("relation ... already exists, skipping") are routine on every start.
        EnvFilter::new(format!("{level},sqlx::postgres::notice=warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests start several apps in one process) keeps the first subscriber.
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
