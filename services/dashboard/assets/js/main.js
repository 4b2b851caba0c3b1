// The dashboard's entry point: wires the panels together and runs the one poller that
// keeps the deliveries feed, the events, the dead letters, the replays and whatever is
// open fresh (every 2 s while the tab is visible); the overview has its own, slower one.
// The tenants are known first, since they scope everything else.

import {
  refreshDeadLetterChoices, refreshDeadLetters, restartDeadLetters, setUpDeadLetters, showDeadLettersOf,
  useDeadLettersRefresh,
} from './dead_letters.js';
import { lookAgain, refreshDisabled, setUpDisabled } from './disabled.js';
import { closeEvent, refreshEvent, setUpEvent, showEvent } from './event.js';
import { refreshEvents, restartEvents, setUpEvents, useEventsRefresh } from './events.js';
import { filterBySubscription, refreshFeed, refreshFeedChoices, restartFeed, setUpFeed, useRefresh } from './feed.js';
import { reloadOverview, startOverview } from './overview.js';
import { startPolling } from './poller.js';
import { refreshReplayChoices, refreshReplayTenant, setUpReplayForm } from './replay_form.js';
import { refreshReplays, replayStarted, restartReplays, setUpReplays, useReplaysRefresh } from './replays.js';
import { chooseSubscription, refreshSendChoices, refreshSendTenant, setUpSend } from './send.js';
import { setUpSettings } from './settings.js';
import { refreshStats } from './stats.js';
import { onSubscriptionsChanged, reloadSubscriptions, setUpSubscriptions, showUpdated } from './subscriptions.js';
import { closeTask, refreshTask, setUpTask, showTask } from './task.js';
import { loadTenants, onTenantChanged, setUpTenants } from './tenants.js';

const POLL_EVERY_MS = 2000;

setUpTask();
setUpEvent(showTask);
setUpSend({ showTask, showEvent });
setUpFeed({ showTask, changedSubscriptions: refreshStats });
setUpEvents(showEvent);
setUpDeadLetters(showTask);
setUpDisabled(showUpdated);
setUpReplayForm(replayStarted);
setUpReplays();
setUpSubscriptions({
  sendTest: chooseSubscription,
  showDeliveries: filterBySubscription,
  showDeadLetters: showDeadLettersOf,
});
onSubscriptionsChanged(() => {
  refreshSendChoices();
  refreshFeedChoices();
  refreshDeadLetterChoices();
  refreshReplayChoices();
});

let poller = null;
setUpTenants();
onTenantChanged(() => {
  // What is open may be another tenant's.
  closeEvent();
  closeTask();
  refreshSendTenant();
  refreshReplayTenant();
  reloadSubscriptions();
  lookAgain();
  if (poller) {
    restartFeed();
    restartEvents();
    reloadOverview();
    restartDeadLetters();
    restartReplays();
  }
});

setUpSettings(loadTenants);

await loadTenants();
startOverview();
poller = startPolling(() => Promise.all([
  refreshFeed(),
  refreshEvents(),
  refreshDeadLetters(),
  refreshReplays(),
  refreshDisabled(),
  refreshTask(),
  refreshEvent(),
]), POLL_EVERY_MS);
useRefresh(poller.now);
useEventsRefresh(poller.now);
useDeadLettersRefresh(poller.now);
useReplaysRefresh(poller.now);
