// Runs a refresh every few seconds while the tab is visible, never two at once:
// the next run is scheduled only after the previous one finished, and a hidden tab
// costs no request at all until it is shown again (then it refreshes at once).

/** Starts polling `tick` (an async function); returns `{ now }` to refresh at once. */
export function startPolling(tick, intervalMs) {
  let timer = null;
  let running = false;
  let again = false;

  async function run() {
    clearTimeout(timer);
    timer = null;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await tick();
    } catch (error) {
      // A tick shows its own errors; this only keeps the loop alive past a bug.
      console.error(error);
    } finally {
      running = false;
    }
    if (again) {
      again = false;
      run();
    } else if (document.visibilityState === 'visible') {
      timer = setTimeout(run, intervalMs);
    }
  }

  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') {
      run();
    } else {
      clearTimeout(timer);
      timer = null;
    }
  });
  run();
  return { now: run };
}
