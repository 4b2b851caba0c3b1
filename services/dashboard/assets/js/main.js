// The dashboard's entry point: wires the panels together and runs the one poller that
// keeps the deliveries feed and the open task fresh (every 2 s while the tab is visible).

import { filterBySubscription, refreshFeed, refreshFeedChoices, setUpFeed, useRefresh } from './feed.js';
import { startPolling } from './poller.js';
import { chooseSubscription, refreshSendChoices, setUpSend } from './send.js';
import { setUpSettings } from './settings.js';
import { refreshStats } from './stats.js';
import { onSubscriptionsChanged, reloadSubscriptions, setUpSubscriptions } from './subscriptions.js';
import { refreshTask, setUpTask, showTask } from './task.js';

const POLL_EVERY_MS = 2000;

setUpTask();
setUpSend(showTask);
setUpFeed({ showTask, changedSubscriptions: refreshStats });
setUpSubscriptions({ sendTest: chooseSubscription, showDeliveries: filterBySubscription });
onSubscriptionsChanged(() => {
  refreshSendChoices();
  refreshFeedChoices();
});

setUpSettings(() => {
  reloadSubscriptions();
  poller.now();
});

const poller = startPolling(() => Promise.all([refreshFeed(), refreshTask()]), POLL_EVERY_MS);
useRefresh(poller.now);
reloadSubscriptions();
