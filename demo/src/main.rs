//! `shoal-demo` entry point: parses the command line, prepares sample media, runs the server.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use shoal_demo::config::{parse_args, Command, HELP};
use shoal_demo::generate::{ensure_vod_sample, Outcome, VodOptions};
use shoal_demo::live::{wait_ready, LiveOptions, LiveStream, LIVE_FOLDER, LIVE_MASTER};

/// How long in-flight requests get to finish after SIGTERM or Ctrl-C.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Run(options)) => options,
        Err(e) => {
            eprintln!("shoal-demo: {e}");
            return ExitCode::from(2);
        }
    };

    // Generated before binding, so that "running at" on stdout means the media is ready too.
    if !options.no_generate {
        for sample in VodOptions::all(&options.server.media_dir) {
            match ensure_vod_sample(&sample) {
                Ok(Outcome::UpToDate) => {}
                Ok(Outcome::Generated { elapsed }) => {
                    eprintln!(
                        "shoal-demo: sample media {}/ ready in {:.1} s",
                        sample.folder,
                        elapsed.as_secs_f64()
                    );
                }
                Err(e) => {
                    eprintln!(
                        "shoal-demo: sample media generation ({}/) failed: {e}",
                        sample.folder
                    );
                    return ExitCode::FAILURE;
                }
            }
        }
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("shoal-demo: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let live_options = options
        .live
        .then(|| LiveOptions::new(&options.server.media_dir));
    let result = runtime.block_on(async move {
        // Listening for signals starts before the running line is printed: a SIGTERM sent
        // right after it would otherwise meet the default action and kill the process.
        let shutdown = shutdown_signal();
        let mut server = shoal_demo::serve(options.server).await?;
        // Started before the running line, so that a missing ffmpeg fails the start.
        let live = live_options.as_ref().map(LiveStream::start).transpose()?;
        println!("Shoal demo running at {}", server.url());
        if let Some(url) = server.tracker_url() {
            println!("Shoal tracker at {url}");
        }
        // Tests read this line through a pipe, where stdout is block-buffered.
        std::io::stdout().flush()?;
        if let Some(live) = &live {
            let url = format!("{}media/{LIVE_FOLDER}/{LIVE_MASTER}", server.url());
            let readiness = live.readiness();
            tokio::spawn(async move {
                if wait_ready(readiness).await {
                    println!("Shoal live stream at {url}");
                    let _ = std::io::stdout().flush();
                }
            });
        }
        let stop = server.take_shutdown();
        let mut stopped = std::pin::pin!(server.wait());
        let result = tokio::select! {
            result = &mut stopped => result,
            () = shutdown => {
                if let Some(stop) = stop {
                    let _ = stop.send(());
                }
                // Graceful shutdown waits for open connections; a browser tab may hold one
                // indefinitely, so bound the wait.
                match tokio::time::timeout(SHUTDOWN_GRACE, stopped).await {
                    Ok(result) => result,
                    Err(_) => {
                        eprintln!("shoal-demo: connections still open, exiting anyway");
                        Ok(())
                    }
                }
            }
        };
        if let Some(live) = live {
            live.stop().await;
        }
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shoal-demo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Ctrl-C, or SIGTERM (what test runners and CI send) on Unix. The SIGTERM handler is
/// installed when this is called, not when the future is first polled.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let terminate = async move {
            match terminate {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => {},
            () = terminate => {},
        }
    }
}
