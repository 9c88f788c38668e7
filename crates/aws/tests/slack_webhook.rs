//! SlackWebhook against a local HTTP server: what it posts, and that a failure never shows the
//! webhook URL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use keyward_aws::slack::SlackWebhook;
use keyward_core::ports::{PortError, Slack};
use support::failed_message;

/// A one-shot HTTP server on 127.0.0.1: answers each of `statuses` on its own connection, in order,
/// and returns the request bodies it received. Gives up after 10 s.
fn http_server(statuses: Vec<(u16, &'static str)>) -> (SocketAddr, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut bodies = Vec::new();
        for (status, body) in statuses {
            let mut stream = loop {
                match listener.accept() {
                    Ok((stream, _)) => break stream,
                    Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                    Err(e) => panic!("no request arrived: {e}"),
                }
            };
            stream.set_nonblocking(false).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            let (head_end, length) = loop {
                let n = stream.read(&mut buf).unwrap();
                assert!(n > 0, "connection closed mid-request");
                request.extend_from_slice(&buf[..n]);
                if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&request[..end]).to_lowercase();
                    let length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map(|v| v.trim().parse::<usize>().unwrap())
                        .unwrap_or(0);
                    break (end + 4, length);
                }
            };
            while request.len() < head_end + length {
                let n = stream.read(&mut buf).unwrap();
                assert!(n > 0, "connection closed mid-body");
                request.extend_from_slice(&buf[..n]);
            }
            bodies.push(String::from_utf8_lossy(&request[head_end..head_end + length]).into_owned());
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(response.as_bytes()).unwrap();
        }
        bodies
    });
    (addr, handle)
}

#[tokio::test]
async fn slack_post_succeeds_on_200_and_fails_on_500_without_the_url() {
    let (addr, server) = http_server(vec![(200, "ok"), (500, "no_service")]);
    let url = format!("http://{addr}/services/T0000/B0000/s3cr3tW3bh00kPath");
    let slack = SlackWebhook::new().unwrap();
    let payload = serde_json::json!({"text": "keyward digest"});

    assert_eq!(slack.post(&url, &payload).await, Ok(()));
    let err = slack.post(&url, &payload).await.unwrap_err();

    let bodies = server.join().unwrap();
    assert_eq!(bodies.len(), 2);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&bodies[0]).unwrap(), payload);
    let message = failed_message(err);
    assert!(message.contains("500"), "{message}");
    assert!(message.contains("no_service"), "{message}");
    assert!(!message.contains("s3cr3tW3bh00kPath"), "{message}");
}

#[tokio::test]
async fn slack_connection_failure_does_not_show_the_url() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let url = format!("http://{closed}/services/T0000/B0000/s3cr3tW3bh00kPath");
    let slack = SlackWebhook::new().unwrap();

    let err = slack.post(&url, &serde_json::json!({"text": "x"})).await.unwrap_err();

    assert!(matches!(&err, PortError::Failed { operation: "SlackWebhook", .. }));
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("s3cr3tW3bh00kPath"), "{shown}");
    assert!(!shown.contains("/services/"), "{shown}");
}
