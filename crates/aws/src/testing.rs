//! Test harness (cargo feature `moto`, dev-dependencies only): [`MotoServer`] runs the project's
//! pinned moto (`.venv/bin/moto_server`, installed by `scripts/venv`) on a free local port for one
//! test and stops it when dropped. Failing to start fails the test with the reason; it never skips.
//! It also creates what every moto test needs: the report bucket, the approvals table and the
//! decisions table.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
use aws_sdk_iam::config::Credentials;

/// How long a server may take to answer after it was spawned.
const START_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_EVERY: Duration = Duration::from_millis(100);
/// Spawns tried when the server exits at once (another process took the free port first).
const SPAWN_ATTEMPTS: u32 = 3;

/// A moto server on 127.0.0.1, killed (by its PID) when dropped.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl MotoServer {
    /// Starts `<repo>/.venv/bin/moto_server` on a free port and waits (at most 30 s) until it
    /// answers. Panics, failing the test, if the binary is missing (run `scripts/venv`), if the
    /// server exits, or if it does not answer in time.
    pub fn start() -> MotoServer {
        let binary = repo_root().join(".venv/bin/moto_server");
        if !binary.is_file() {
            panic!(
                "{} is missing: run scripts/venv (make test runs it first) to install the pinned moto",
                binary.display()
            );
        }
        let mut last_log = String::new();
        for _ in 0..SPAWN_ATTEMPTS {
            let port = free_port();
            let log = std::env::temp_dir().join(format!("keyward-moto-{}-{port}.log", std::process::id()));
            let log_file =
                File::create(&log).unwrap_or_else(|e| panic!("cannot create the moto log {}: {e}", log.display()));
            let stdout = log_file.try_clone().unwrap_or_else(|e| panic!("cannot share the moto log: {e}"));
            let child = Command::new(&binary)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(stdout)
                .stderr(log_file)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
            let mut server = MotoServer { child, port, log };
            match server.wait_until_ready() {
                Ready::Yes => return server,
                Ready::Exited(log) => last_log = log,
                Ready::TimedOut(log) => {
                    panic!("moto_server did not answer on port {port} within {START_TIMEOUT:?}; its output:\n{log}")
                }
            }
        }
        panic!("moto_server exited at start {SPAWN_ATTEMPTS} times; its last output:\n{last_log}")
    }

    /// The server's URL, e.g. `http://127.0.0.1:50123`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// An `SdkConfig` for this server: static test credentials, region us-east-1, the endpoint set,
    /// three attempts per call.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::from_static("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "keyward-moto"))
            .endpoint_url(self.endpoint())
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .load()
            .await
    }

    /// An S3 client for this server. Path-style: moto serves every bucket on its one host.
    pub async fn s3_client(&self) -> aws_sdk_s3::Client {
        let sdk = self.sdk_config().await;
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build())
    }

    /// Creates the report bucket `bucket`; returns an S3 client ([`MotoServer::s3_client`]) to
    /// seed and read it. Panics, failing the test, if moto refuses.
    pub async fn create_report_bucket(&self, bucket: &str) -> aws_sdk_s3::Client {
        let s3 = self.s3_client().await;
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("cannot create the bucket {bucket} in moto: {e:?}"));
        s3
    }

    /// Creates the approvals table `table` with the schema `crate::dynamodb` expects (the hash key
    /// `id_hash`, a string; on demand, as `template.yaml` has it). Panics, failing the test, if
    /// moto refuses.
    pub async fn create_approvals_table(&self, table: &str) {
        self.create_table(table, "id_hash").await;
    }

    /// Creates the decisions table `table` with the schema `crate::dynamodb` expects (the hash key
    /// `execution_name`, a string; on demand, as `template.yaml` has it). Panics, failing the test,
    /// if moto refuses.
    pub async fn create_decisions_table(&self, table: &str) {
        self.create_table(table, "execution_name").await;
    }

    async fn create_table(&self, table: &str, hash_key: &str) {
        let key = KeySchemaElement::builder().attribute_name(hash_key).key_type(KeyType::Hash).build();
        let attribute =
            AttributeDefinition::builder().attribute_name(hash_key).attribute_type(ScalarAttributeType::S).build();
        let (key, attribute) = match (key, attribute) {
            (Ok(key), Ok(attribute)) => (key, attribute),
            (key, attribute) => panic!("the table schema of {table} does not build: {key:?} {attribute:?}"),
        };
        aws_sdk_dynamodb::Client::new(&self.sdk_config().await)
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key)
            .attribute_definitions(attribute)
            .send()
            .await
            .unwrap_or_else(|e| panic!("cannot create the table {table} in moto: {e:?}"));
    }

    fn wait_until_ready(&mut self) -> Ready {
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Ready::Exited(self.output());
            }
            if answers(self.port) {
                return Ready::Yes;
            }
            std::thread::sleep(POLL_EVERY);
        }
        Ready::TimedOut(self.output())
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log.display()))
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // Child::kill signals exactly this child's PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

enum Ready {
    Yes,
    Exited(String),
    TimedOut(String),
}

/// The workspace root: two levels above this crate.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A port the OS just handed out and released.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|e| panic!("cannot bind a local port for moto: {e}"));
    listener.local_addr().unwrap_or_else(|e| panic!("cannot read the bound port: {e}")).port()
}

/// Whether an HTTP server answers `GET /moto-api/` on the port.
fn answers(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/")
}
