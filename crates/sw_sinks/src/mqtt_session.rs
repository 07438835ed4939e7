//! The MQTT sink's thread: one current-thread tokio runtime running two futures side by side.
//!
//! ```text
//!   poller (owns rumqttc's EventLoop; never cancelled while the sink runs)
//!     poll ─► (session number, event or error) ─► bounded channel ─┐
//!     error ⇒ session += 1, stale events dropped, back-off sleep   │
//!                                                                  ▼
//!   coordinator (owns the AsyncClient)  ◄── work / stop wake-ups from the caller
//!     ConnAck ⇒ window reset, every retained value marked to send again
//!     fill the window: retained values first, then queued events (QoS 1, ≤ WINDOW unacked)
//!     Outgoing::Publish(pkid) ⇒ the oldest handed-over publish gets that packet id
//!     PubAck(pkid) ⇒ its event counts as delivered; the queue drops its acknowledged head
//! ```
//!
//! Why two futures and a session number: rumqttc's `poll` is not safe to cancel in the middle
//! of writing a packet, so it is never raced against wake-ups; and rumqttc forgets (on a clean
//! session) whatever it held when a connection failed, so the sink re-sends from its own queue
//! after every ConnAck and must never hand rumqttc a publish between a failure and the next
//! ConnAck. The poller bumps the shared session number in the same step in which `poll`
//! returns an error, and the coordinator hands over nothing unless its session is current.
//! rumqttc assigns packet ids in the order publishes are handed over, which is how a PUBACK
//! is matched to an event.
//!
//! Owns: the connection loop, reconnect back-off, the QoS 1 window, acknowledgement
//! bookkeeping, logging of connection trouble, the goodbye and the final spill. Does not own:
//! what is queued or retained (`mqtt`, `mqtt_queue`, `mqtt_topics`).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, Outgoing, Packet, QoS,
};
use tokio::sync::mpsc;

use crate::describe;
use crate::mqtt::{GOODBYE, Shared};
use crate::mqtt_topics::OFFLINE;
use sw_core::Backoff;

/// Publishes handed to rumqttc and not yet acknowledged, at most; also rumqttc's inflight
/// limit, so it never holds one back for flow control.
pub(crate) const WINDOW: u16 = 64;

/// Poller → coordinator: broker traffic is acknowledgements and pings, a few per publish.
/// Overload policy: the poller waits (it is never cancelled, so waiting loses nothing).
const EVENTS_QUEUE: usize = 256;

/// How the thread connects; the rest is in [`Shared`].
#[derive(Debug)]
pub(crate) struct SessionOptions {
    pub(crate) client: rumqttc::MqttOptions,
    pub(crate) connect_timeout: Duration,
    pub(crate) reconnect_initial: Duration,
    pub(crate) reconnect_max: Duration,
}

/// How the first connection attempt went, for [`MqttSink::start`](crate::MqttSink::start).
#[derive(Debug)]
pub(crate) enum FirstOutcome {
    Connected,
    /// The broker answered and said no (login, client id, protocol): a configuration error.
    Refused(String),
    /// No answer, or one that may change (network, TLS, broker busy).
    Unreachable(String),
}

type Polled = (u64, Result<Event, ConnectionError>);

/// The thread's body: runs until shutdown, then says goodbye and spills the memory queue.
/// Never panics; trouble is logged and shown in status.
pub(crate) fn run(shared: &Arc<Shared>, options: SessionOptions, first: Sender<FirstOutcome>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = first.send(FirstOutcome::Unreachable(format!(
                "cannot start the MQTT runtime: {error}"
            )));
            tracing::error!(
                "MQTT broker {}: cannot start the runtime ({error}); events stay queued",
                shared.broker
            );
            spill(shared);
            return;
        }
    };
    runtime.block_on(async {
        let (client, mut eventloop) = AsyncClient::new(options.client, usize::from(WINDOW) + 8);
        let connect_timeout_secs = options.connect_timeout.as_secs().max(1);
        let mut network = eventloop.network_options();
        network.set_connection_timeout(connect_timeout_secs);
        network.set_tcp_nodelay(true);
        eventloop.set_network_options(network);
        let session = Arc::new(AtomicU64::new(0));
        let (sender, receiver) = mpsc::channel(EVENTS_QUEUE);
        let backoff = Backoff::new(
            options.reconnect_initial,
            options.reconnect_max,
            fastrand::u64(..),
        );
        let mut coordinator = Coordinator {
            shared: shared.clone(),
            client,
            session: session.clone(),
            current: None,
            handed_over: VecDeque::new(),
            inflight: HashMap::new(),
            acked: BTreeSet::new(),
            cursor: None,
            first: Some(first),
            failing: false,
            disconnected: false,
        };
        tokio::select! {
            () = poll(eventloop, sender, session, backoff) => {}
            () = coordinator.run(receiver) => {}
        }
    });
    spill(shared);
}

/// Writes the memory queue to the spill folder so the next start sends it.
fn spill(shared: &Shared) {
    let mut state = shared.lock();
    match state.queue.persist_memory() {
        Ok(0) => {}
        Ok(count) => tracing::info!(
            "MQTT broker {}: {count} undelivered events kept in {} for the next start",
            shared.broker,
            state.queue.spool_dir().display()
        ),
        Err(error) => tracing::error!(
            "MQTT broker {}: cannot keep undelivered events for the next start: {}",
            shared.broker,
            describe(&error)
        ),
    }
}

/// Drives rumqttc's event loop forever, tagging every result with the session it belongs to.
async fn poll(
    mut eventloop: EventLoop,
    sender: mpsc::Sender<Polled>,
    session: Arc<AtomicU64>,
    mut backoff: Backoff,
) {
    loop {
        let polled = eventloop.poll().await;
        let failed = match &polled {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                session.fetch_add(1, Ordering::SeqCst);
                backoff.reset();
                false
            }
            Ok(_) => false,
            Err(_) => {
                // Same step as the failure: the coordinator hands over nothing more until the
                // next ConnAck. Events buffered from the dead connection would be taken for
                // the next one's: drop them.
                session.fetch_add(1, Ordering::SeqCst);
                eventloop.state.events.clear();
                // A publish held back for a packet-id collision would block every later
                // request of the new session (only a PUBACK of the old one releases it).
                eventloop.state.collision = None;
                true
            }
        };
        let tagged = (session.load(Ordering::SeqCst), polled);
        if sender.send(tagged).await.is_err() {
            return;
        }
        if failed {
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }
}

/// A publish handed to rumqttc and not yet acknowledged.
#[derive(Debug, Clone, Copy)]
enum Sent {
    Event(u64),
    Retained,
}

struct Coordinator {
    shared: Arc<Shared>,
    client: AsyncClient,
    session: Arc<AtomicU64>,
    /// The session we are connected in; `None` while disconnected.
    current: Option<u64>,
    /// Handed to rumqttc, packet id not known yet, oldest first.
    handed_over: VecDeque<Sent>,
    inflight: HashMap<u16, Sent>,
    /// Events acknowledged while an older one is not.
    acked: BTreeSet<u64>,
    /// The newest event handed over in this session.
    cursor: Option<u64>,
    first: Option<Sender<FirstOutcome>>,
    /// In a streak of failed attempts (logged once, at its start).
    failing: bool,
    /// rumqttc sent our DISCONNECT.
    disconnected: bool,
}

impl Coordinator {
    async fn run(&mut self, mut receiver: mpsc::Receiver<Polled>) {
        let shared = self.shared.clone();
        loop {
            self.fill_window();
            let (stop_at, drained) = {
                let state = self.shared.lock();
                let drained = state.queue.is_empty() && !state.retained.has_dirty();
                (state.stop_at, drained && self.outstanding() == 0)
            };
            // Stopping: deliver while connected, until done or the stop time. Without a
            // connection there is nothing to wait for: the queue goes to disk for next time.
            if let Some(stop_at) = stop_at
                && (drained || self.current.is_none() || Instant::now() >= stop_at)
            {
                break;
            }
            let stop_sleep = tokio::time::sleep_until(stop_at.unwrap_or_else(Instant::now).into());
            tokio::select! {
                biased;
                polled = receiver.recv() => match polled {
                    Some((session, polled)) => self.handle(session, polled),
                    None => return,
                },
                () = shared.work.notified() => {}
                () = shared.stop.notified() => {}
                () = stop_sleep, if stop_at.is_some() => {}
            }
        }
        self.goodbye(&mut receiver).await;
    }

    /// Publishes `offline` and disconnects, waiting up to [`GOODBYE`] while still taking
    /// acknowledgements (so what was delivered is not sent again next time).
    async fn goodbye(&mut self, receiver: &mut mpsc::Receiver<Polled>) {
        if self.current.is_none() {
            return;
        }
        let topic = self.shared.topics.available();
        let handed = self
            .client
            .try_publish(topic, QoS::AtLeastOnce, true, OFFLINE)
            .is_ok();
        if handed {
            self.handed_over.push_back(Sent::Retained);
        }
        if !handed || self.client.try_disconnect().is_err() {
            return;
        }
        let until = tokio::time::Instant::now() + GOODBYE;
        while !self.disconnected && self.current.is_some() {
            match tokio::time::timeout_at(until, receiver.recv()).await {
                Ok(Some((session, polled))) => self.handle(session, polled),
                Ok(None) | Err(_) => return,
            }
        }
    }

    fn outstanding(&self) -> usize {
        self.handed_over.len() + self.inflight.len()
    }

    /// Hands rumqttc retained values, then queued events, until the window is full.
    fn fill_window(&mut self) {
        let Some(current) = self.current else { return };
        if self.session.load(Ordering::SeqCst) != current {
            return;
        }
        let events_topic = self.shared.topics.events();
        let shared = self.shared.clone();
        let mut state = shared.lock();
        while self.outstanding() < usize::from(WINDOW) {
            if let Some((topic, payload)) = state.retained.next_dirty() {
                match self.client.try_publish(
                    topic.clone(),
                    QoS::AtLeastOnce,
                    true,
                    payload.clone(),
                ) {
                    Ok(()) => self.handed_over.push_back(Sent::Retained),
                    Err(_) => {
                        state.retained.unsend(topic, payload);
                        break;
                    }
                }
                continue;
            }
            let Some(seq) = state.queue.next_after(self.cursor) else {
                break;
            };
            let payload = match state.queue.payload(seq) {
                Ok(payload) => payload,
                Err(error) => {
                    tracing::error!(
                        "MQTT broker {}: event {seq} is lost: {}",
                        self.shared.broker,
                        describe(&error)
                    );
                    self.cursor = Some(seq);
                    self.acked.insert(seq);
                    continue;
                }
            };
            match self.client.try_publish(
                events_topic.clone(),
                QoS::AtLeastOnce,
                false,
                payload.to_vec(),
            ) {
                Ok(()) => {
                    self.handed_over.push_back(Sent::Event(seq));
                    self.cursor = Some(seq);
                }
                Err(_) => break,
            }
        }
        drop(state);
        self.drop_acknowledged_head();
    }

    fn handle(&mut self, session: u64, polled: Result<Event, ConnectionError>) {
        match polled {
            Ok(Event::Incoming(Packet::ConnAck(_))) => self.connected(session),
            Ok(_) if self.current != Some(session) => {}
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                if let Some(sent) = self.handed_over.pop_front() {
                    self.inflight.insert(pkid, sent);
                }
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => {
                if let Some(Sent::Event(seq)) = self.inflight.remove(&ack.pkid) {
                    self.acked.insert(seq);
                    self.drop_acknowledged_head();
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => self.disconnected = true,
            Ok(_) => {}
            Err(error) => self.failed(&error),
        }
    }

    fn connected(&mut self, session: u64) {
        self.current = Some(session);
        self.reset_window();
        let queued = {
            let mut state = self.shared.lock();
            state.connected = true;
            state.retained.mark_all_dirty();
            state.queue.len()
        };
        if self.failing {
            tracing::info!(
                "MQTT broker {} is back; {queued} queued events follow",
                self.shared.broker
            );
            self.failing = false;
        }
        if let Some(first) = self.first.take() {
            let _ = first.send(FirstOutcome::Connected);
        }
    }

    fn failed(&mut self, error: &ConnectionError) {
        let was_connected = self.current.take().is_some();
        self.reset_window();
        let reason = match error {
            ConnectionError::ConnectionRefused(code) => refusal(*code),
            // rumqttc's messages already include their causes.
            other => other.to_string(),
        };
        {
            let mut state = self.shared.lock();
            state.connected = false;
            state.connection_failures += 1;
            state.last_error = Some(reason.clone());
        }
        if let Some(first) = self.first.take() {
            let outcome = match error {
                ConnectionError::ConnectionRefused(code)
                    if *code != ConnectReturnCode::ServiceUnavailable =>
                {
                    FirstOutcome::Refused(reason.clone())
                }
                _ => FirstOutcome::Unreachable(reason.clone()),
            };
            let _ = first.send(outcome);
            // start() reports the first failure itself.
            self.failing = true;
            return;
        }
        if !self.failing {
            let what = if was_connected {
                "connection lost"
            } else {
                "cannot connect"
            };
            tracing::warn!(
                "MQTT broker {}: {what}: {reason}; events queue and reconnecting goes on with \
                 back-off",
                self.shared.broker
            );
            self.failing = true;
        } else {
            tracing::debug!(
                "MQTT broker {}: still failing: {reason}",
                self.shared.broker
            );
        }
    }

    /// A new or lost connection: nothing is in flight any more; start again from the oldest
    /// queued event.
    fn reset_window(&mut self) {
        self.handed_over.clear();
        self.inflight.clear();
        self.acked.clear();
        self.cursor = None;
    }

    /// Removes acknowledged events from the front of the queue.
    fn drop_acknowledged_head(&mut self) {
        if self.acked.is_empty() {
            return;
        }
        let mut state = self.shared.lock();
        while let Some(head) = state.queue.head() {
            if !self.acked.remove(&head) {
                break;
            }
            if let Err(error) = state.queue.pop_head() {
                tracing::error!(
                    "MQTT broker {}: event {head} was delivered but stays in the spill folder \
                     (it will be sent again after a restart): {}",
                    self.shared.broker,
                    describe(&error)
                );
            }
            state.delivered_events += 1;
        }
    }
}

/// What a CONNACK refusal means, in words.
fn refusal(code: ConnectReturnCode) -> String {
    match code {
        ConnectReturnCode::BadUserNamePassword => {
            "bad user name or password (CONNACK 4)".to_owned()
        }
        ConnectReturnCode::NotAuthorized => "not authorised (CONNACK 5)".to_owned(),
        ConnectReturnCode::BadClientId => {
            "client id rejected (CONNACK 2); set a different client_id".to_owned()
        }
        ConnectReturnCode::RefusedProtocolVersion => {
            "MQTT 3.1.1 not supported by the broker (CONNACK 1)".to_owned()
        }
        ConnectReturnCode::ServiceUnavailable => "server unavailable (CONNACK 3)".to_owned(),
        ConnectReturnCode::Success => "accepted".to_owned(),
    }
}
