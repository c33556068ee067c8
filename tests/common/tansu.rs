//! A tansu broker (a Kafka-protocol broker, installed by `scripts/setup.sh`)
//! on a free loopback port, in memory, stopped when dropped. Shared by the
//! end-to-end tests and the ingest benchmark.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Tansu {
    child: Child,
    url: String,
    /// `host:port`, for Kafka clients.
    pub brokers: String,
}

impl Tansu {
    pub fn start() -> Tansu {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(binary())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url, "--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting tansu (installed by scripts/setup.sh)");
        Tansu { child, url, brokers: format!("127.0.0.1:{port}") }
    }

    /// The broker's process id (to read its CPU time).
    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Creates `topic`, retrying while the broker starts (up to 30 s).
    pub fn create_topic(&self, topic: &str, partitions: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let created = Command::new(binary())
                .args(["topic", "create", topic, "--partitions", &partitions.to_string(), "--broker", &self.url])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if created {
                return;
            }
            assert!(Instant::now() < deadline, "creating topic {topic} on tansu");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> PathBuf {
    let home = PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo/bin/tansu");
    if home.exists() { home } else { PathBuf::from("tansu") }
}
