//! A real headless Chromium driven over WebDriver: one chromedriver per test run
//! (started on a free loopback port when the first browser test needs it, killed with
//! every browser it started when the last one is done), one browser session per test,
//! closed even when the test fails.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, PoisonError};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use hookline_testkit::wait_until;
use serde_json::{json, Value};

/// What chromedriver prints once it listens; the port follows.
const STARTED: &str = "was started successfully on port ";
const DRIVER_START_DEADLINE: Duration = Duration::from_secs(20);

/// The running chromedriver and how many tests use it.
struct Driver {
    child: Child,
    port: u16,
    users: usize,
}

static DRIVER: Mutex<Option<Driver>> = Mutex::new(None);

/// A test's hold on the shared chromedriver; the last one dropped kills it.
struct DriverLease {
    port: u16,
}

impl DriverLease {
    fn acquire(path: &str) -> DriverLease {
        let mut driver = DRIVER.lock().unwrap_or_else(PoisonError::into_inner);
        let running = driver.get_or_insert_with(|| start_driver(path));
        running.users += 1;
        DriverLease { port: running.port }
    }
}

impl Drop for DriverLease {
    fn drop(&mut self) {
        let mut driver = DRIVER.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = driver.as_mut() {
            running.users -= 1;
            if running.users == 0 {
                let mut stopped = driver.take().expect("checked above");
                // The whole group: the browsers chromedriver started are in it too, so none
                // outlives the run, even one whose test failed before closing its session.
                let group = format!("-{}", stopped.child.id());
                let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
                let _ = stopped.child.wait();
            }
        }
    }
}

/// Starts chromedriver on port 0 and reads the port it chose from its output, which a
/// thread keeps draining afterwards so that chromedriver never blocks on a full pipe.
fn start_driver(path: &str) -> Driver {
    let mut child = Command::new(path)
        .args(["--port=0", "--allowed-ips=127.0.0.1"])
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start chromedriver at {path}: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let (port_tx, port_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(port) = line.split(STARTED).nth(1) {
                let _ = port_tx.send(port.trim_end_matches('.').parse::<u16>());
            }
        }
    });
    match port_rx.recv_timeout(DRIVER_START_DEADLINE) {
        Ok(Ok(port)) => Driver { child, port, users: 0 },
        other => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromedriver did not say which port it listens on: {other:?}")
        }
    }
}

/// The window a test browses with.
#[derive(Clone, Copy)]
pub enum Window {
    Desktop,
    /// A 375 px wide phone, emulated by Chromium (a real window cannot be that narrow).
    Phone,
}

/// One browser session of a test.
pub struct Browser {
    client: Client,
    _driver: DriverLease,
}

impl Browser {
    /// Opens a browser, or `None` (saying SKIPPED) when `CHROMEDRIVER` is not set and
    /// engines are not required (`HOOKLINE_REQUIRE_ENGINES=1` makes that a failure).
    pub async fn open(test: &str, window: Window) -> Option<Browser> {
        let Ok(path) = std::env::var("CHROMEDRIVER") else {
            if std::env::var("HOOKLINE_REQUIRE_ENGINES").as_deref() == Ok("1") {
                panic!("{test}: CHROMEDRIVER must be set (scripts/chromium.sh install prints it)");
            }
            println!("SKIPPED: no chromedriver: {test} (set CHROMEDRIVER, see scripts/chromium.sh)");
            return None;
        };
        let driver = tokio::task::spawn_blocking(move || DriverLease::acquire(&path)).await.expect("driver start");
        let client = ClientBuilder::native()
            .capabilities(capabilities(window))
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .unwrap_or_else(|e| panic!("{test}: no browser session: {e}"));
        if let Window::Desktop = window {
            client.set_window_size(1280, 1500).await.expect("window size");
        }
        Some(Browser { client, _driver: driver })
    }

    /// Runs `scenario` with this browser, then closes the session whether it passed or
    /// not; a failure leaves target/screenshots/failed-`name`.png as evidence.
    pub async fn run<F, Fut>(self, name: &str, scenario: F)
    where
        F: FnOnce(Page) -> Fut,
        Fut: Future<Output = ()>,
    {
        let page = Page { client: self.client.clone() };
        let outcome = AssertUnwindSafe(scenario(page.clone())).catch_unwind().await;
        if outcome.is_err() {
            match page.save_screenshot(&format!("failed-{name}")).await {
                Ok(path) => eprintln!("{name}: the page when it failed: {}", path.display()),
                Err(e) => eprintln!("{name}: no screenshot of the failure: {e}"),
            }
        }
        let _ = self.client.close().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }
}

fn capabilities(window: Window) -> serde_json::Map<String, Value> {
    let mut options = json!({
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
    });
    if let Ok(binary) = std::env::var("CHROMIUM") {
        options["binary"] = json!(binary);
    }
    if let Window::Phone = window {
        options["mobileEmulation"] = json!({ "deviceMetrics": { "width": 375, "height": 812, "pixelRatio": 2.0 } });
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert("goog:chromeOptions".into(), options);
    capabilities
}

/// What a test does on the page, in the user's terms: fill, click, read, wait.
#[derive(Clone)]
pub struct Page {
    client: Client,
}

impl Page {
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Loads the page again, as the browser's reload button does.
    pub async fn reload(&self) {
        self.client.refresh().await.unwrap_or_else(|e| panic!("cannot reload: {e}"));
    }

    pub async fn click(&self, css: &str) {
        let element = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
        element.click().await.unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// Replaces the value of the field `css` by typing `text`.
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
        element.clear().await.unwrap_or_else(|e| panic!("cannot clear {css}: {e}"));
        element.send_keys(text).await.unwrap_or_else(|e| panic!("cannot type into {css}: {e}"));
    }

    pub async fn select(&self, css: &str, value: &str) {
        let element = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"));
        element.select_by_value(value).await.unwrap_or_else(|e| panic!("cannot choose {value} in {css}: {e}"));
    }

    /// The visible text of `css`, if it is there.
    pub async fn text(&self, css: &str) -> Option<String> {
        self.client.find(Locator::Css(css)).await.ok()?.text().await.ok()
    }

    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.client.find(Locator::Css(css)).await.ok()?.attr(name).await.ok()?
    }

    pub async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.map(|all| all.len()).unwrap_or(0)
    }

    /// Waits until the text of `css` satisfies `test`, and returns it.
    pub async fn wait_text(&self, css: &str, timeout: Duration, test: impl Fn(&str) -> bool) -> String {
        wait_until(timeout, &format!("the text of {css} to match"), || async {
            self.text(css).await.filter(|text| test(text))
        })
        .await
    }

    /// Runs `script` (a function body) in the page and returns its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Saves a PNG of the page as target/screenshots/`name`.png and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        self.save_screenshot(name).await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"))
    }

    async fn save_screenshot(&self, name: &str) -> Result<PathBuf, String> {
        let png = self.client.screenshot().await.map_err(|e| e.to_string())?;
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).map_err(|e| e.to_string())?;
        Ok(path)
    }
}
