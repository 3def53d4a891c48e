//! `versus`: the command-line entry point. Parses arguments, loads the configuration and runs
//! the chosen command. Everything else lives in the library.

// No `unwrap`/`expect` outside tests (no panic may depend on what a client sent);
// each remaining one is allowed where it is, with its reason. Tests may use both.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use versus_server::config::{self, LogFormat, Overrides};

/// Versus: a real-time multiplayer game backend.
///
/// Settings come from built-in defaults, then an optional TOML file (--config), then VERSUS_*
/// environment variables (e.g. VERSUS_LISTEN, VERSUS_DATA_DIR, VERSUS_DATABASE_URL), then
/// these flags. See README.md for every setting.
#[derive(Debug, Parser)]
#[command(name = "versus", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default command).
    Serve(ServeArgs),
    /// Load and validate the configuration, print the effective settings (secrets redacted)
    /// and exit.
    CheckConfig(ServeArgs),
    /// Operator commands on the database the configuration names.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
        #[command(flatten)]
        args: ServeArgs,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Mute a player in every chat room for a while.
    Mute {
        username: String,
        /// How long, in minutes.
        #[arg(long, value_name = "N")]
        minutes: u64,
    },
    /// Lift a player's chat mute.
    Unmute { username: String },
    /// Print a new email key pair (`id:base64-key`) to put first in `email_keys`.
    NewEmailKey {
        /// The key's id: 1 to 32 of a-z, 0-9 and - (e.g. the date).
        id: String,
    },
    /// Reseal every email address under the current (first) key of `email_keys`, after a
    /// rotation; then the older keys can be removed.
    ResealEmails,
}

#[derive(Debug, Clone, Args, Default)]
struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port (the bound address is logged)
    /// [env: VERSUS_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR", global = true)]
    listen: Option<String>,
    /// Folder for local data, including the default SQLite database
    /// [env: VERSUS_DATA_DIR] [default: ./data]
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<String>,
    /// sqlite://FILE or postgres://USER@HOST/DB [env: VERSUS_DATABASE_URL]
    /// [default: sqlite://DATA_DIR/versus.db]
    #[arg(long, value_name = "URL", global = true)]
    database_url: Option<String>,
    /// nats://HOST:4222: join a cluster through NATS (with a shared PostgreSQL database)
    /// [env: VERSUS_NATS_URL] [default: none: one node, in-process bus]
    #[arg(long, value_name = "URL", global = true)]
    nats_url: Option<String>,
    /// This node's name, unique in a cluster [env: VERSUS_NODE_ID] [default: local]
    #[arg(long, value_name = "NAME", global = true)]
    node_id: Option<String>,
    /// Log format [env: VERSUS_LOG_FORMAT] [default: human]
    #[arg(long, value_enum, global = true)]
    log_format: Option<LogFormat>,
    /// Log filter, e.g. info or versus_server=debug [env: VERSUS_LOG_LEVEL] [default: info]
    #[arg(long, value_name = "FILTER", global = true)]
    log_level: Option<String>,
    /// PEM certificate chain: serve HTTPS and WSS (with --tls-key) [env: VERSUS_TLS_CERT]
    /// [default: none: plain HTTP]
    #[arg(long, value_name = "FILE", global = true)]
    tls_cert: Option<String>,
    /// PEM private key of --tls-cert [env: VERSUS_TLS_KEY]
    #[arg(long, value_name = "FILE", global = true)]
    tls_key: Option<String>,
}

impl ServeArgs {
    fn overrides(&self) -> Overrides {
        let mut values = Vec::new();
        if let Some(v) = &self.listen {
            values.push(("listen", v.clone()));
        }
        if let Some(v) = &self.data_dir {
            values.push(("data_dir", v.clone()));
        }
        if let Some(v) = &self.database_url {
            values.push(("database_url", v.clone()));
        }
        if let Some(v) = &self.nats_url {
            values.push(("nats_url", v.clone()));
        }
        if let Some(v) = &self.node_id {
            values.push(("node_id", v.clone()));
        }
        if let Some(v) = self.log_format {
            values.push((
                "log_format",
                if v == LogFormat::Json {
                    "json"
                } else {
                    "human"
                }
                .to_string(),
            ));
        }
        if let Some(v) = &self.log_level {
            values.push(("log_level", v.clone()));
        }
        if let Some(v) = &self.tls_cert {
            values.push(("tls_cert", v.clone()));
        }
        if let Some(v) = &self.tls_key {
            values.push(("tls_key", v.clone()));
        }
        Overrides { values }
    }

    fn merge(self, other: ServeArgs) -> ServeArgs {
        ServeArgs {
            config: other.config.or(self.config),
            listen: other.listen.or(self.listen),
            data_dir: other.data_dir.or(self.data_dir),
            database_url: other.database_url.or(self.database_url),
            nats_url: other.nats_url.or(self.nats_url),
            node_id: other.node_id.or(self.node_id),
            log_format: other.log_format.or(self.log_format),
            log_level: other.log_level.or(self.log_level),
            tls_cert: other.tls_cert.or(self.tls_cert),
            tls_key: other.tls_key.or(self.tls_key),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut admin = None;
    let (check_only, args) = match cli.command {
        None => (false, cli.serve),
        Some(Command::Serve(a)) => (false, cli.serve.merge(a)),
        Some(Command::CheckConfig(a)) => (true, cli.serve.merge(a)),
        Some(Command::Admin { command, args }) => {
            admin = Some(command);
            (false, cli.serve.merge(args))
        }
    };
    let config = match config::load(args.config.as_deref(), std::env::vars(), &args.overrides()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("versus: {e}");
            return ExitCode::from(2);
        }
    };
    if check_only {
        eprintln!("{config:#?}");
        return ExitCode::SUCCESS;
    }
    if let Some(command) = admin {
        return run_admin(&config, command);
    }
    versus_server::telemetry::init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("versus: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(versus_server::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the server stopped with an error");
            ExitCode::FAILURE
        }
    }
}

/// Runs an operator command; exit 0 on success, 1 on failure (with the reason on stderr).
#[allow(
    clippy::print_stdout,
    reason = "the command's result is its output for the operator"
)]
fn run_admin(config: &config::Config, command: AdminCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("versus: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            AdminCommand::Mute { username, minutes } => {
                versus_server::admin::mute(config, &username, minutes).await
            }
            AdminCommand::Unmute { username } => {
                versus_server::admin::unmute(config, &username).await
            }
            AdminCommand::NewEmailKey { id } => versus_server::admin::new_email_key(&id),
            AdminCommand::ResealEmails => versus_server::admin::reseal_emails(config).await,
        }
    });
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("versus: {e}");
            ExitCode::FAILURE
        }
    }
}
