//! The command line (clap): subcommands and global options, turned into the library's
//! [`pipewatch::Command`]. Part of the binary only: the library knows no clap type.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::filter::LevelFilter;

use pipewatch::commands;
use pipewatch::logging::LogFormat;

/// The heading of the options every command takes.
const GLOBAL: &str = "Global options (any command)";

/// The exit codes, at the end of the top-level help.
const EXIT_CODES: &str = "Exit codes: 0 success; 1 checks failed (reconcile found a difference, a halt validation test failed, an alert is open, a check-config connection failed); 2 usage or configuration error (nothing was done); 3 error (a connection, query or file failed: re-run once the cause is fixed); 4 another pipewatch held the run lock (nothing was done).";

/// pipewatch: copies Airflow DAG-run history and data-validation results into a PostgreSQL
/// warehouse and computes daily pipeline-performance figures for dashboards.
#[derive(Debug, Parser)]
#[command(
    name = "pipewatch",
    version,
    about,
    long_about = None,
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// Configuration file (INI). Default: ./pipeline.conf, then /etc/pipewatch/pipeline.conf.
    #[arg(
        long,
        global = true,
        env = "PIPEWATCH_CONFIG",
        value_name = "PATH",
        help_heading = GLOBAL
    )]
    pub config: Option<PathBuf>,
    /// Log format: readable text, or JSON lines for log collectors.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "PIPEWATCH_LOG_FORMAT",
        help_heading = GLOBAL
    )]
    pub log_format: LogFormatArg,
    /// Lowest level of pipewatch's log lines that are written [default: info; warn with
    /// --quiet and no --log-file].
    #[arg(
        long,
        global = true,
        value_enum,
        env = "PIPEWATCH_LOG_LEVEL",
        help_heading = GLOBAL
    )]
    pub log_level: Option<LogLevel>,
    /// For schedulers (cron mails any output): print nothing on success. A command whose checks
    /// fail still prints its report, and a failure its one error line on standard error.
    #[arg(long, global = true, env = "PIPEWATCH_QUIET", help_heading = GLOBAL)]
    pub quiet: bool,
    /// Append logs to this file instead of standard error.
    #[arg(
        long,
        global = true,
        env = "PIPEWATCH_LOG_FILE",
        value_name = "PATH",
        help_heading = GLOBAL
    )]
    pub log_file: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    /// Readable text, one line per event.
    Text,
    /// One JSON object per line.
    Json,
}

impl From<LogFormatArg> for LogFormat {
    fn from(format: LogFormatArg) -> Self {
        match format {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        }
    }
}

/// Log levels, from quietest to noisiest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Errors and warnings.
    Warn,
    /// What each stage did (the default).
    Info,
    /// Details for debugging.
    Debug,
    /// Everything.
    Trace,
}

impl From<LogLevel> for LevelFilter {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Error => LevelFilter::ERROR,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Trace => LevelFilter::TRACE,
        }
    }
}

/// Arguments of `run` and `extract`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExtractArgs {
    /// Read every DAG run, not only new and changed ones.
    #[arg(long)]
    pub full: bool,
    /// Only this Airflow instance (default: every configured one).
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
}

/// Arguments of `load`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// Load (or reload) this staged object, by its key in the stage, instead of the pending
    /// extracts.
    #[arg(long, value_name = "KEY", conflicts_with = "instance")]
    pub object: Option<String>,
    /// Only the pending extracts of this Airflow instance.
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
    /// Discard this extract (pending, or set aside by a load that could not take it) by its
    /// key, instead of loading: it will never be loaded; later extracts bring its runs again.
    #[arg(long, value_name = "KEY", conflicts_with_all = ["object", "instance"])]
    pub discard: Option<String>,
}

/// Arguments of `reconcile`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReconcileArgs {
    /// Only this Airflow instance (default: every configured one).
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
    /// First day to compare (YYYY-MM-DD, in the reporting time zone). Default: --days before --to.
    #[arg(long, value_name = "DATE")]
    pub from: Option<chrono::NaiveDate>,
    /// Last day to compare (YYYY-MM-DD). Default: today in the reporting time zone.
    #[arg(long, value_name = "DATE")]
    pub to: Option<chrono::NaiveDate>,
    /// How many days to compare when --from is not given (1 to 36525).
    #[arg(long, default_value_t = commands::reconcile::DEFAULT_DAYS, value_name = "N")]
    pub days: u32,
}

/// Arguments of `validate`: the book's `SCRIPT_1 SCRIPT_2 OPERATOR [SEVERITY]`, or `--suite`.
#[derive(Debug, Clone, clap::Args)]
pub struct ValidateArgs {
    /// SQL script returning the left value (one row, one column).
    #[arg(required_unless_present = "suite", conflicts_with = "suite")]
    pub script_1: Option<String>,
    /// SQL script returning the right value.
    #[arg(required_unless_present = "suite")]
    pub script_2: Option<String>,
    /// equals, greater_equals, greater, less_equals, less or not_equal: SCRIPT_1 OPERATOR SCRIPT_2
    /// must hold.
    #[arg(required_unless_present = "suite")]
    pub operator: Option<String>,
    /// halt (default: a failure exits 1) or warn (a failure is recorded and notified; exit 0).
    pub severity: Option<String>,
    /// Run every test of this suite file (INI, one section per test) instead.
    #[arg(long, value_name = "FILE")]
    pub suite: Option<PathBuf>,
    /// Database the scripts run against: warehouse (default) or an Airflow instance name.
    #[arg(long, value_name = "NAME", conflicts_with = "suite")]
    pub database: Option<String>,
    /// Name recorded for the test (default: "SCRIPT_1 OPERATOR SCRIPT_2").
    #[arg(long, value_name = "NAME", conflicts_with = "suite")]
    pub name: Option<String>,
}

/// Arguments of `transform`.
#[derive(Debug, Clone, clap::Args)]
pub struct TransformArgs {
    /// Rebuild every day from all history instead of the queued days.
    #[arg(long)]
    pub full_refresh: bool,
}

/// Arguments of `backfill`.
#[derive(Debug, Clone, clap::Args)]
pub struct BackfillArgs {
    /// First day of the window (YYYY-MM-DD, in the reporting time zone).
    #[arg(long, value_name = "DATE")]
    pub from: chrono::NaiveDate,
    /// Last day of the window, included.
    #[arg(long, value_name = "DATE")]
    pub to: chrono::NaiveDate,
    /// Only this Airflow instance (default: every configured one).
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
}

/// Output formats of `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    /// Readable text.
    Text,
    /// One JSON document.
    Json,
}

/// Arguments of `status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: StatusFormat,
    /// How many recent invocations to show.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub last: u32,
}

/// Arguments of `report`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Days in the period, 1 to 366, ending today in the reporting time zone (compared with as
    /// many days before).
    #[arg(long, default_value_t = 7, value_name = "N")]
    pub days: u32,
    /// Only this Airflow instance (default: every one).
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
    /// Only the DAGs with this owner (Airflow's owners, as the DAG catalogue last read them).
    #[arg(long, value_name = "OWNER")]
    pub owner: Option<String>,
    /// Only the DAGs with this tag (with --owner: the DAGs with both).
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// The HTML file to write.
    #[arg(long, value_name = "FILE", default_value = commands::report::DEFAULT_OUT)]
    pub out: PathBuf,
    /// Also post the headline figures as a short text message to the webhook ([alerts] or
    /// [validate] webhook_url): a digest for a weekly cron line.
    #[arg(long)]
    pub post: bool,
}

/// Arguments of `alerts`.
#[derive(Debug, Clone, clap::Args)]
pub struct AlertsArgs {
    /// Only the open alerts (default: also those resolved in the last 30 days).
    #[arg(long)]
    pub open: bool,
    /// Judge the rules now first (what `run` does after its transform).
    #[arg(long)]
    pub evaluate: bool,
    /// Only the alerts this route gets: a [route_<label>]'s label, or `default` (the
    /// [alerts] webhook_url, for what no route takes).
    #[arg(long, value_name = "LABEL")]
    pub route: Option<String>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Extract, stage, load and transform in one go (the scheduled job).
    Run(ExtractArgs),
    /// Extract DAG runs from Airflow into the stage.
    Extract(ExtractArgs),
    /// Load staged extracts into dag_run_history (the pending ones, or one by key).
    Load(LoadArgs),
    /// Recompute the daily tables and dashboard views, then judge the [alerts] rules (when set).
    Transform(TransformArgs),
    /// Run validation tests and record their results.
    #[command(
        override_usage = "pipewatch validate [OPTIONS] <SCRIPT_1> <SCRIPT_2> <OPERATOR> [SEVERITY]\n       pipewatch validate [OPTIONS] --suite <FILE>"
    )]
    Validate(ValidateArgs),
    /// Re-extract and recompute a window of days.
    Backfill(BackfillArgs),
    /// Compare finished runs per day in Airflow and in the warehouse (log-loss check).
    Reconcile(ReconcileArgs),
    /// Show recent invocations, watermarks, pending work and the run lock, from the warehouse.
    Status(StatusArgs),
    /// Write a self-contained HTML report of the period's figures (charts, failures, tasks,
    /// validation, pipewatch's health).
    Report(ReportArgs),
    /// List the alerts (open ones make it exit 1); --evaluate judges the [alerts] rules first.
    Alerts(AlertsArgs),
    /// Delete loaded extract objects and run-log rows past [retention] (run does this at its end).
    Retention,
    /// Create or upgrade the warehouse schema.
    Migrate,
    /// Validate the configuration and try every connection.
    CheckConfig,
    /// Print the metrics for Prometheus (text format) on standard output: what [prometheus]
    /// publishes after every command that changes them.
    Metrics,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(
        after_help = "Examples:\n  pipewatch completions bash > /etc/bash_completion.d/pipewatch\n  pipewatch completions zsh > \"${fpath[1]}/_pipewatch\"\n  pipewatch completions fish > ~/.config/fish/completions/pipewatch.fish"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): pipewatch man > /usr/local/share/man/man1/pipewatch.1
    Man {
        /// Write every page (pipewatch.1 and one per command, pipewatch-run.1, ...) into this
        /// folder instead.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

/// What the binary does with a parsed command line.
pub enum Action {
    /// Run a command of the library.
    Run(pipewatch::Command),
    /// Print a completion script.
    Completions(clap_complete::Shell),
    /// Print the manual page, or write every page into a folder.
    Man(Option<PathBuf>),
}

impl Command {
    /// The library command, or what the binary prints itself (completions, the manual page).
    pub fn action(self) -> Action {
        match self {
            Command::Completions { shell } => Action::Completions(shell),
            Command::Man { out_dir } => Action::Man(out_dir),
            other => Action::Run(other.into_library()),
        }
    }
}

/// Writes `shell`'s completion script for the whole command line to `out`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    use clap::CommandFactory;
    clap_complete::generate(shell, &mut Cli::command(), "pipewatch", out);
}

/// Writes the manual page (roff) of the whole command line to standard output, or every page
/// (the top one and one per command) into `out_dir`.
pub fn man(out_dir: Option<&std::path::Path>) -> std::io::Result<()> {
    use clap::CommandFactory;
    match out_dir {
        None => clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()),
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            clap_mangen::generate_to(Cli::command(), dir)
        }
    }
}

impl Command {
    fn into_library(self) -> pipewatch::Command {
        use pipewatch::Command as C;
        match self {
            Command::Run(a) => C::Run(a.into()),
            Command::Extract(a) => C::Extract(a.into()),
            Command::Load(a) => C::Load(commands::load::Args {
                object: a.object,
                instance: a.instance,
                discard: a.discard,
            }),
            Command::Transform(a) => C::Transform(commands::transform::Args {
                full_refresh: a.full_refresh,
            }),
            Command::Validate(a) => C::Validate(commands::validate::Args {
                script_1: a.script_1,
                script_2: a.script_2,
                operator: a.operator,
                severity: a.severity,
                suite: a.suite,
                database: a.database,
                name: a.name,
            }),
            Command::Backfill(a) => C::Backfill(commands::backfill::Args {
                from: a.from,
                to: a.to,
                instance: a.instance,
            }),
            Command::Reconcile(a) => C::Reconcile(commands::reconcile::Args {
                instance: a.instance,
                from: a.from,
                to: a.to,
                days: a.days,
            }),
            Command::Status(a) => C::Status(commands::status::Args {
                format: match a.format {
                    StatusFormat::Text => commands::status::StatusFormat::Text,
                    StatusFormat::Json => commands::status::StatusFormat::Json,
                },
                last: a.last,
            }),
            Command::Report(a) => C::Report(commands::report::Args {
                days: a.days,
                instance: a.instance,
                filter: pipewatch::report::DagFilter {
                    owner: a.owner,
                    tag: a.tag,
                },
                out: Some(a.out),
                post: a.post,
            }),
            Command::Alerts(a) => C::Alerts(commands::alerts::Args {
                open: a.open,
                evaluate: a.evaluate,
                route: a.route,
            }),
            Command::Retention => C::Retention,
            Command::Migrate => C::Migrate,
            Command::CheckConfig => C::CheckConfig,
            Command::Metrics => C::Metrics,
            Command::Completions { .. } | Command::Man { .. } => {
                unreachable!("Command::action prints these in the binary")
            }
        }
    }
}

impl From<ExtractArgs> for commands::extract::Args {
    fn from(a: ExtractArgs) -> Self {
        commands::extract::Args {
            full: a.full,
            instance: a.instance,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No command line panics the parser or the conversion to the library's commands: a
    /// deterministic sweep over command lines built from the real vocabulary and hostile
    /// values (dates at and past the calendar's ends, huge numbers, paths that escape).
    #[test]
    fn no_command_line_panics() {
        let words = [
            "run",
            "extract",
            "load",
            "transform",
            "validate",
            "backfill",
            "reconcile",
            "status",
            "retention",
            "report",
            "--out",
            "alerts",
            "--open",
            "--evaluate",
            "--post",
            "migrate",
            "check-config",
            "--full",
            "--instance",
            "--object",
            "--discard",
            "--full-refresh",
            "--from",
            "--to",
            "--days",
            "--last",
            "--format",
            "--suite",
            "--database",
            "--name",
            "--config",
            "--log-format",
            "--log-level",
            "json",
            "text",
            "xml",
            "trace",
            "0",
            "-1",
            "1",
            "36525",
            "99999999",
            "18446744073709551616",
            "0000-01-01",
            "0001-01-01",
            "9999-12-31",
            "+262143-12-31",
            "2026-02-30",
            "..",
            "../../etc/passwd",
            "/etc/passwd",
            "",
            " ",
            "a.sql",
            "equals",
            "greater",
            "halt",
            "warn",
            "nosuch",
            "\u{0}",
            "é",
            "--",
        ];
        let mut state: u64 = 42;
        for _ in 0..20_000 {
            let mut line = vec!["pipewatch".to_string()];
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let length = (state >> 60) as usize;
            for _ in 0..length {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                line.push(words[(state >> 33) as usize % words.len()].to_string());
            }
            if let Ok(cli) = Cli::try_parse_from(&line)
                && let Action::Run(pipewatch::Command::Validate(args)) = cli.command.action()
            {
                let _ = args.tests();
            }
        }
    }
}
