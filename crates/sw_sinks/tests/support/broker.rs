//! A real Mosquitto broker per test (Debian package `mosquitto`), on free loopback ports with a
//! generated config, and an independent subscriber (rumqttc's blocking client) that records
//! what arrives, retained flag included.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

use super::common::{PATIENCE, wait_until};

const MOSQUITTO: &str = "/usr/sbin/mosquitto";

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `mosquitto -c <generated config>`; killed when dropped.
pub struct Mosquitto {
    config: PathBuf,
    log: PathBuf,
    /// The first listener (plain MQTT, anonymous unless the config says otherwise).
    pub port: u16,
    /// Further listeners the config asked for.
    pub extra_ports: Vec<u16>,
    child: Option<Child>,
}

impl Mosquitto {
    /// A broker in `dir` with a plain anonymous listener on a free port, persistence in `dir`
    /// (saved on SIGTERM, so a persistent subscriber's session outlives a restart), and `extra`
    /// config lines, given the `extra_listeners` further free ports. Settings are per
    /// listener: each extra listener says its own `allow_anonymous` and the like.
    pub fn start(dir: &Path, extra_listeners: usize, extra: impl Fn(&[u16]) -> String) -> Self {
        assert!(
            Path::new(MOSQUITTO).exists(),
            "{MOSQUITTO} is missing: install the Debian packages mosquitto and mosquitto-clients"
        );
        let port = free_port();
        let extra_ports: Vec<u16> = (0..extra_listeners).map(|_| free_port()).collect();
        // Run as root, mosquitto would switch to user `mosquitto`, who cannot read the test's
        // private temporary folder.
        let user = if fs::metadata("/proc/self").unwrap().uid() == 0 {
            "user root\n"
        } else {
            ""
        };
        let config = dir.join("mosquitto.conf");
        let log = dir.join("mosquitto.log");
        fs::write(
            &config,
            format!(
                "per_listener_settings true\n{user}persistence true\npersistence_location {}/\n\
                 log_dest stdout\nlistener {port} 127.0.0.1\nallow_anonymous true\n{}",
                dir.display(),
                extra(&extra_ports)
            ),
        )
        .unwrap();
        let mut broker = Self {
            config,
            log,
            port,
            extra_ports,
            child: None,
        };
        broker.run();
        broker
    }

    fn run(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < PATIENCE,
                "mosquitto did not listen on {}: {}",
                self.port,
                fs::read_to_string(&self.log).unwrap_or_default()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM and wait: mosquitto saves its persistence file and closes every connection.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let status = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            child.wait().unwrap();
        }
    }

    /// Starts again with the same config and ports.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One message as a subscriber received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub payload: String,
    /// Set when the broker delivered it as a retained message (to a new subscription).
    pub retain: bool,
}

/// A subscriber on its own thread, recording every message in arrival order.
pub struct Subscriber {
    messages: Arc<Mutex<Vec<Message>>>,
    client: Client,
}

impl Subscriber {
    /// Connects to `port` as `client_id` and subscribes to `filters` (QoS 1); returns once the
    /// broker confirmed the subscription. `persistent`: a session the broker keeps across
    /// disconnects (and, with persistence, restarts), so nothing published meanwhile is missed.
    pub fn start(port: u16, client_id: &str, filters: &[&str], persistent: bool) -> Self {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
        options
            .set_clean_session(!persistent)
            .set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut connection) = Client::new(options, 100);
        let messages = Arc::new(Mutex::new(Vec::new()));
        let subscribed = Arc::new(Mutex::new(0));
        let wanted = filters.len();
        let filters: Vec<String> = filters.iter().map(|filter| (*filter).to_owned()).collect();
        thread::spawn({
            let client = client.clone();
            let messages = messages.clone();
            let subscribed = subscribed.clone();
            move || {
                for notification in connection.iter() {
                    match notification {
                        Ok(Event::Incoming(Packet::ConnAck(ack))) if !ack.session_present => {
                            for filter in &filters {
                                if client.subscribe(filter.clone(), QoS::AtLeastOnce).is_err() {
                                    return;
                                }
                            }
                        }
                        Ok(Event::Incoming(Packet::SubAck(_))) => {
                            *subscribed.lock().unwrap() += 1;
                        }
                        Ok(Event::Incoming(Packet::Publish(publish))) => {
                            messages.lock().unwrap().push(Message {
                                topic: publish.topic.clone(),
                                payload: String::from_utf8_lossy(&publish.payload).into_owned(),
                                retain: publish.retain,
                            });
                        }
                        Ok(_) => {}
                        Err(rumqttc::ConnectionError::RequestsDone) => return,
                        // The broker is away: the next iteration reconnects.
                        Err(_) => thread::sleep(Duration::from_millis(50)),
                    }
                }
            }
        });
        wait_until("the subscriptions", || {
            *subscribed.lock().unwrap() >= wanted
        });
        Self { messages, client }
    }

    pub fn messages(&self) -> Vec<Message> {
        self.messages.lock().unwrap().clone()
    }

    /// Waits until `condition` holds for the messages so far, and returns them.
    pub fn wait_for(
        &self,
        what: &str,
        mut condition: impl FnMut(&[Message]) -> bool,
    ) -> Vec<Message> {
        let start = Instant::now();
        loop {
            let messages = self.messages();
            if condition(&messages) {
                return messages;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "gave up waiting for {what}; received: {messages:#?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last payload received on `topic`.
    pub fn last_on(&self, topic: &str) -> Option<Message> {
        self.messages()
            .into_iter()
            .rev()
            .find(|message| message.topic == topic)
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.client.disconnect();
    }
}
