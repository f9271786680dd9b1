//! `strata`: look inside, edit, copy and check Strata stores from the command line.
//!
//! STORE is a redb file, or a remote sqld / Turso database when it is a URL (`libsql://`,
//! `https://`, `http://`; the token from `--token` or `TURSO_AUTH_TOKEN`).
//!
//! Exit status: 0 success; 1 an error (message on stderr); 2 bad usage; 3 `verify` found
//! damaged values; 4 `get` found no such key.

mod commands;
mod jsonl;
mod render;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Look inside, edit, copy and check Strata stores.
#[derive(Parser)]
#[command(name = "strata", version, about, after_help = EXIT_STATUS)]
struct Cli {
    /// Auth token for a remote STORE (a Turso or sqld JWT).
    #[arg(long, global = true, env = "TURSO_AUTH_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

const EXIT_STATUS: &str = "Exit status: 0 success, 1 error, 2 bad usage, \
3 `verify` found damaged values, 4 `get` found no such key.";

/// The keyspace and key-encoding options shared by the entry commands.
#[derive(Args)]
struct KeyOptions {
    /// The keyspace.
    #[arg(short, long, default_value = strata::DEFAULT_KEYSPACE)]
    keyspace: String,
    /// Keys (and values, for `put`) are given in hex.
    #[arg(long)]
    hex: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Keyspaces with entry counts and sizes, the file's size and format version.
    Info {
        /// A store file or URL.
        store: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the value under KEY (text if printable, else 0x-prefixed hex).
    Get {
        /// A store file or URL.
        store: String,
        /// The key.
        key: String,
        #[command(flatten)]
        options: KeyOptions,
        /// Print a JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Store VALUE under KEY (the file is created if missing).
    Put {
        /// A store file or URL.
        store: String,
        /// The key.
        key: String,
        /// The value.
        value: String,
        #[command(flatten)]
        options: KeyOptions,
    },
    /// Remove KEY; says whether it was there.
    Delete {
        /// A store file or URL.
        store: String,
        /// The key.
        key: String,
        #[command(flatten)]
        options: KeyOptions,
    },
    /// Entries in key order, one per line: key, a tab, value.
    Scan {
        /// A store file or URL.
        store: String,
        /// Only keys starting with this.
        #[arg(long)]
        prefix: Option<String>,
        /// At most this many entries.
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        options: KeyOptions,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Write every entry (or one keyspace's) as JSON lines, from one snapshot.
    Dump {
        /// A store file or URL.
        store: String,
        /// Only this keyspace (repeatable).
        #[arg(short, long)]
        keyspace: Vec<String>,
        /// Write to this file instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Read JSON lines (as `dump` writes them) into the store, in batches of 1,000.
    Load {
        /// A store file or URL (a file is created if missing).
        store: String,
        /// The JSON lines file; stdin when absent or `-`.
        input: Option<PathBuf>,
        /// The keyspace for lines that name none.
        #[arg(short, long, default_value = strata::DEFAULT_KEYSPACE)]
        keyspace: String,
    },
    /// Check every value's checksum; lists damaged keys, exits 3 if any.
    Verify {
        /// A store file.
        store: String,
    },
    /// Write a consistent copy of the store to DEST (which must not exist).
    Backup {
        /// A store file.
        store: String,
        /// Where the copy goes.
        dest: PathBuf,
    },
    /// Give the file's free space back to the filesystem (the store must be closed).
    Compact {
        /// A store file.
        store: String,
    },
    /// Offline-first sync.
    Sync {
        #[command(subcommand)]
        command: SyncCommand,
    },
}

#[derive(Subcommand)]
enum SyncCommand {
    /// Pending writes, cursor and conflicts of every synced keyspace, read from the file.
    Status {
        /// A store file.
        store: String,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
}

/// Why a command failed, and the exit status that says so.
#[derive(Debug)]
pub struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    /// An error (exit status 1).
    pub fn error(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code: 1,
        }
    }

    /// A failure with its own exit status and message.
    pub fn with_code(code: u8, message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code,
        }
    }
}

impl From<strata::Error> for Failure {
    fn from(e: strata::Error) -> Self {
        Failure::error(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("strata: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("strata: {}", failure.message);
            }
            ExitCode::from(failure.code)
        }
    }
}
