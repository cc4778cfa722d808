//! Batch scoring in this binary: the command line (`churn-predict score`), and what it shares
//! with `POST /score` (`crate::api::score`): how a backend scores a file ([`Scoring`]) and how a
//! rejected row is written for rerunning ([`reject_line`]). The file handling itself is the
//! `batch` crate's, the same for every door.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use batch::extras::{Levers, Reasons};
use batch::{
    BatchError, Engine, ExtraColumns, Header, Options, Progress, Rejection, Report, Summary,
};
use indicatif::{ProgressBar, ProgressStyle};
use model::scoring::BoxFuture;
use model::{Backend, Model, ScoreError, Scorer, Scores};
use tokio::runtime::Handle;

use crate::backends::{self, BackendChoice};
use crate::config::{ScoreArgs, Settings};
use crate::error::Unexplained;

/// Rows in one call to a remote scorer. A row of the 12 features encodes to at most ~200 bytes
/// (`crate::backends::sagemaker::encode_rows`), so a call stays far below InvokeEndpoint's
/// 6 MB payload limit (checked in a test).
pub const REMOTE_CHUNK_ROWS: usize = 5_000;
/// Calls to a remote scorer in flight at once.
pub const REMOTE_IN_FLIGHT: usize = 4;
/// Exit status of a run that rejected rows (without `--skip-invalid`).
pub const EXIT_REJECTED: u8 = 3;
/// Exit status when standard output was closed before the end (128 + SIGPIPE, as a shell
/// reports a tool killed by SIGPIPE).
pub const EXIT_BROKEN_PIPE: u8 = 141;
/// Rejected rows described on stderr; the rest are counted (all of them go to `--rejects`).
pub const MAX_SHOWN_REJECTIONS: usize = 100;

/// How a backend scores a file: the in-process model directly on worker threads, or any other
/// scorer (SageMaker) a chunk per call with a few calls in flight.
#[derive(Clone)]
pub enum Scoring {
    InProcess(Arc<Model>),
    Remote(Arc<dyn Scorer>),
}

impl Scoring {
    /// The embedded backend's own model when it is what scores; otherwise its scorer (a
    /// SageMaker backend's local copy only explains, it never scores).
    pub fn of(backend: &Backend) -> Scoring {
        match &backend.explainer {
            Some(model) if backend.info().kind == backends::embedded::KIND => {
                Scoring::InProcess(Arc::clone(model))
            }
            _ => Scoring::Remote(Arc::clone(&backend.scorer)),
        }
    }

    /// The run's options: chunk sizes and parallelism for this kind of scoring.
    pub fn options(&self, threshold: Option<f64>, features_only: bool) -> Options {
        let base = Options {
            threshold,
            features_only,
            ..Options::default()
        };
        match self {
            Scoring::InProcess(_) => base,
            Scoring::Remote(_) => Options {
                chunk_rows: REMOTE_CHUNK_ROWS,
                workers: REMOTE_IN_FLIGHT,
                ..base
            },
        }
    }

    /// Runs the core. Blocking: call it from a blocking thread (`spawn_blocking`); a remote
    /// scorer's calls run on `runtime`.
    pub fn run<R: Read + Send, W: Write>(
        &self,
        input: R,
        output: W,
        options: &Options,
        report: &mut dyn Report,
        runtime: &Handle,
    ) -> Result<Summary, BatchError> {
        match self {
            Scoring::InProcess(model) => {
                batch::score(input, output, Engine::InProcess(model), options, report)
            }
            Scoring::Remote(scorer) => {
                let block_on =
                    |future: BoxFuture<'_, Result<Scores, ScoreError>>| runtime.block_on(future);
                let engine = Engine::Remote {
                    scorer: &**scorer,
                    block_on: &block_on,
                };
                batch::score(input, output, engine, options, report)
            }
        }
    }
}

/// The columns a run adds after `probability` and `result`: `explain` (reasons) and
/// `levers` (the best lever), as `--explain`/`--levers`, `?explain=true&levers=true` and the
/// page's boxes ask.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wanted {
    pub explain: bool,
    pub levers: bool,
}

/// The added columns from the backend's explaining model: refused, as the JSON API refuses
/// `?explain` and `?whatif`, when there is none (a SageMaker endpoint without
/// `ENDPOINT_MODEL_PATH`), or, for reasons, when its file cannot explain. Levers are computed
/// with the local model and, when another scorer gives the probabilities, re-scored by it
/// (`Backend::levers`' rule), so a lever's probability is what `POST /predict` answers for the
/// changed customer.
pub fn extras(
    backend: &Backend,
    wanted: Wanted,
) -> Result<Vec<Arc<dyn ExtraColumns>>, Unexplained> {
    let mut extras: Vec<Arc<dyn ExtraColumns>> = Vec::new();
    if !(wanted.explain || wanted.levers) {
        return Ok(extras);
    }
    let model = backend.explainer.clone().ok_or(Unexplained::NoLocalModel)?;
    if wanted.explain {
        let reasons = Reasons::new(Arc::clone(&model)).ok_or(Unexplained::ModelCannotExplain)?;
        extras.push(Arc::new(reasons));
    }
    if wanted.levers {
        extras.push(Arc::new(Levers::new(model, !backend.explainer_scores())));
    }
    Ok(extras)
}

/// Why `--explain`/`--levers` cannot run, in the command line's words.
pub fn unexplained_text(why: Unexplained) -> &'static str {
    match why {
        Unexplained::NoLocalModel => {
            "--explain and --levers are not available: ENDPOINT_NAME scores with a SageMaker \
             endpoint and no local copy of its model was given. Set ENDPOINT_MODEL_PATH to the \
             endpoint's model (its model.tar.gz or model file; it is checked against the \
             endpoint at start): reasons and candidate levers then come from it, and the \
             levers' probabilities from the endpoint"
        }
        Unexplained::ModelCannotExplain => {
            "--explain is not available: the model file lacks the statistics reasons need \
             (XGBoost's sum_hessian); save it with a current XGBoost's save_model. --levers \
             works without them"
        }
    }
}

/// A rejected row for the rejects file: verbatim, then its line and the reason as two more
/// columns (the reason quoted), so the file is the input's CSV again, ready to fix and rerun.
pub fn reject_line(rejection: &Rejection, header: &Header) -> Vec<u8> {
    let mut line = rejection.record.clone();
    line.push(header.delimiter);
    line.extend_from_slice(rejection.line.to_string().as_bytes());
    line.push(header.delimiter);
    line.push(b'"');
    line.extend_from_slice(rejection.reason().replace('"', "\"\"").as_bytes());
    line.push(b'"');
    line.extend_from_slice(header.line_end);
    line
}

/// The rejects file's header: the input's, then `line` and `reason`.
pub fn rejects_header(header: &Header) -> Vec<u8> {
    let mut line = header.raw.clone();
    for name in ["line", "reason"] {
        line.push(header.delimiter);
        line.extend_from_slice(name.as_bytes());
    }
    line.extend_from_slice(header.line_end);
    line
}

/// `churn-predict score`: returns the exit status (see `ScoreArgs`).
pub async fn run(settings: &Settings, args: &ScoreArgs) -> anyhow::Result<ExitCode> {
    let choice = BackendChoice::from_settings(settings)?;
    let loaded = backends::load(&choice, |scorer| scorer).await?;
    let scoring = Scoring::of(&loaded.backend);
    let wanted = Wanted {
        explain: args.explain,
        levers: args.levers,
    };
    let options = Options {
        id_column: args.id.clone(),
        extras: extras(&loaded.backend, wanted)
            .map_err(|why| anyhow::anyhow!(unexplained_text(why)))?,
        ..scoring.options(args.threshold, args.features_only)
    };

    let (input, size): (Box<dyn Read + Send>, Option<u64>) = match stdio(&args.input) {
        None => (Box::new(io::stdin()), None),
        Some(path) => {
            let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let size = file.metadata().ok().map(|m| m.len());
            (Box::new(file), size)
        }
    };
    if let (Some(input), Some(output)) = (stdio(&args.input), stdio(&args.output))
        && let (Ok(a), Ok(b)) = (input.canonicalize(), output.canonicalize())
        && a == b
    {
        anyhow::bail!(
            "{} is both the input and the output: writing would erase it before it is read",
            output.display()
        );
    }
    let output: Box<dyn Write + Send> = match stdio(&args.output) {
        None => Box::new(io::stdout()),
        Some(path) => {
            Box::new(File::create(path).with_context(|| format!("creating {}", path.display()))?)
        }
    };
    let rejects = match &args.rejects {
        Some(path) => Some(BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => None,
    };
    let mut report = CliReport {
        header: None,
        shown: 0,
        rejects,
        rejects_error: None,
        bar: io::stderr().is_terminal().then(|| progress_bar(size)),
    };
    let runtime = Handle::current();
    let (result, report) = tokio::task::spawn_blocking(move || {
        let output = BufWriter::with_capacity(1 << 20, output);
        let result = scoring.run(input, output, &options, &mut report, &runtime);
        (result, report)
    })
    .await
    .context("the scoring thread stopped")?;
    if let Some(bar) = &report.bar {
        bar.finish_and_clear();
    }
    let rejects_path = args.rejects.as_deref();
    let rejected_more = report.shown_more();
    report.finish(rejects_path)?;
    let summary = match result {
        Ok(summary) => summary,
        // The reader of standard output went away (`| head`): stop quietly, as a tool killed
        // by SIGPIPE does, with its status.
        Err(BatchError::Write(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
            return Ok(ExitCode::from(EXIT_BROKEN_PIPE));
        }
        Err(e) => return Err(e.into()),
    };
    eprintln!("{}", summary_line(&summary, args.features_only));
    if rejected_more > 0 {
        eprintln!(
            "(only the first {MAX_SHOWN_REJECTIONS} rejected rows are listed above{})",
            match rejects_path {
                Some(path) => format!("; all are in {}", path.display()),
                None => "; --rejects FILE writes them all".to_owned(),
            }
        );
    }
    Ok(if summary.rejected > 0 && !args.skip_invalid {
        ExitCode::from(EXIT_REJECTED)
    } else {
        ExitCode::SUCCESS
    })
}

/// `None` for standard input or output (absent or `-`).
fn stdio(path: &Option<PathBuf>) -> Option<&Path> {
    path.as_deref().filter(|p| *p != Path::new("-"))
}

/// `1,000,000 rows read: 999,998 scored, 2 rejected; 142,248 predicted exits (14.2%); 1.2 s
/// (812,345 rows/s)`.
pub fn summary_line(summary: &Summary, features_only: bool) -> String {
    let seconds = summary.elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        summary.rows as f64 / seconds
    } else {
        0.0
    };
    let outcome = if features_only {
        format!(
            "{} written as features, {} rejected",
            grouped(summary.scored),
            grouped(summary.rejected)
        )
    } else {
        let share = if summary.scored > 0 {
            100.0 * summary.exits as f64 / summary.scored as f64
        } else {
            0.0
        };
        format!(
            "{} scored, {} rejected; {} predicted exits ({share:.1}%, threshold {})",
            grouped(summary.scored),
            grouped(summary.rejected),
            grouped(summary.exits),
            summary.threshold
        )
    };
    format!(
        "{} rows read: {outcome}; {seconds:.2} s ({} rows/s)",
        grouped(summary.rows),
        grouped(rate as u64)
    )
}

/// `1234567` → `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn progress_bar(size: Option<u64>) -> ProgressBar {
    let bar = match size {
        // Position in bytes (the ETA); rows and rows/s in the message.
        Some(bytes) => ProgressBar::new(bytes).with_style(
            ProgressStyle::with_template("{bar:30} {percent:>3}% {msg} ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// The command line's report: rejected rows on stderr (the first 100) and in the rejects file
/// (all), progress on a bar when stderr is a terminal.
struct CliReport {
    header: Option<Header>,
    shown: usize,
    rejects: Option<BufWriter<File>>,
    rejects_error: Option<io::Error>,
    bar: Option<ProgressBar>,
}

impl CliReport {
    fn shown_more(&self) -> usize {
        self.shown.saturating_sub(MAX_SHOWN_REJECTIONS)
    }

    fn write_rejects(&mut self, bytes: &[u8]) {
        if let (Some(file), None) = (&mut self.rejects, &self.rejects_error)
            && let Err(e) = file.write_all(bytes)
        {
            self.rejects_error = Some(e);
        }
    }

    fn finish(mut self, path: Option<&Path>) -> anyhow::Result<()> {
        if let Some(file) = &mut self.rejects
            && self.rejects_error.is_none()
            && let Err(e) = file.flush()
        {
            self.rejects_error = Some(e);
        }
        match (self.rejects_error, path) {
            (Some(e), Some(path)) => {
                Err(e).with_context(|| format!("writing the rejects file {}", path.display()))
            }
            _ => Ok(()),
        }
    }
}

impl Report for CliReport {
    fn header(&mut self, header: &Header) {
        self.write_rejects(&rejects_header(header));
        self.header = Some(header.clone());
    }

    fn progress(&mut self, progress: Progress) {
        let Some(bar) = &self.bar else { return };
        let seconds = bar.elapsed().as_secs_f64();
        let rate = if seconds > 0.0 {
            progress.rows as f64 / seconds
        } else {
            0.0
        };
        if bar.length().is_some() {
            bar.set_position(progress.bytes);
        }
        bar.set_message(format!(
            "{} rows, {} rows/s",
            grouped(progress.rows),
            grouped(rate as u64)
        ));
    }

    fn rejected(&mut self, rejection: &Rejection) {
        self.shown += 1;
        if self.shown <= MAX_SHOWN_REJECTIONS {
            let text = format!("line {}: {}", rejection.line, rejection.reason());
            match &self.bar {
                Some(bar) => bar.println(text),
                None => eprintln!("{text}"),
            }
        }
        let line = self.header.as_ref().map(|h| reject_line(rejection, h));
        if let Some(line) = line {
            self.write_rejects(&line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }

    #[test]
    fn a_remote_call_of_the_largest_rows_stays_under_invoke_endpoints_limit() {
        // The longest values the field table allows: subnormal money (every digit printed),
        // three-digit scores and ages.
        let longest: model::Features = [
            900.0,
            1.0,
            120.0,
            100.0,
            f32::from_bits(0x0040_0001),
            10.0,
            1.0,
            1.0,
            f32::from_bits(0x0000_0001),
            1.0,
            0.0,
            0.0,
        ];
        let rows = vec![longest; REMOTE_CHUNK_ROWS];
        let bytes = crate::backends::sagemaker::encode_rows(&rows).len();
        assert!(
            bytes < crate::sagemaker::container::MAX_PAYLOAD_BYTES,
            "{bytes} bytes"
        );
    }
}
