//! Damage to the embedded log: a torn tail left by a crash is cut on start; damage with
//! acknowledged records after it stops start-up, naming the file and the byte, until
//! `hookline repair-log` moves the damaged part aside and says what was lost.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hookline_testkit::process::wait_until;
use hookline_testkit::receiver::Receiver;

use crate::common::{binary, refused, Service};

/// The segment files holding records of `topic`, in every partition.
fn segments_with_records(data_dir: &Path, topic: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for partition in std::fs::read_dir(data_dir.join("log").join("topics").join(topic)).unwrap() {
        let partition = partition.unwrap().path();
        if !partition.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&partition).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|e| e == "log") && std::fs::metadata(&file).unwrap().len() > 0 {
                found.push(file);
            }
        }
    }
    found
}

#[tokio::test]
async fn a_flipped_byte_refuses_start_until_repaired_and_a_torn_tail_recovers_by_itself() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_string();
    let mut service = Service::start_in(dir.path(), &[]).await;
    let sub = service.subscribe(&receiver.url("/hook"), None, None).await;
    let mut tasks = Vec::new();
    for n in 0..10 {
        tasks.push(service.ingest_ok(&sub, &format!(r#"{{"n":{n},"pad":"{}"}}"#, "x".repeat(200)), &[]).await);
    }
    for task in &tasks {
        service.wait_task(task, "succeeded", Duration::from_secs(30)).await;
    }
    assert!(service.process.terminate(Duration::from_secs(20)).await.success());

    // One byte flipped in the middle of the accepted tasks: acknowledged records follow it.
    let segments = segments_with_records(dir.path(), "hookline.deliveries");
    assert_eq!(segments.len(), 1, "one subscription, one partition");
    let segment = &segments[0];
    let mut bytes = std::fs::read(segment).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(segment, &bytes).unwrap();

    let serve = ["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir.as_str()];
    let printed = refused(&serve, &[("KAFKA_BROKERS", ""), ("SCYLLA_NODES", "")]).await;
    assert!(printed.contains(&format!("{} is damaged at byte", segment.display())), "{printed}");
    assert!(printed.contains(&format!("hookline repair-log --data-dir {data_dir}")), "{printed}");
    assert_eq!(std::fs::read(segment).unwrap(), bytes, "a refused start changes nothing");

    let output = tokio::process::Command::new(binary())
        .args(["repair-log", "--data-dir", data_dir.as_str()])
        .env("KAFKA_BROKERS", "")
        .output()
        .await
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "repair-log failed: {said}{}", String::from_utf8_lossy(&output.stderr));
    println!("{said}");
    assert!(said.contains("hookline.deliveries/"), "{said}");
    assert!(said.contains("records lost from offset"), "{said}");
    let aside = dir.path().join("log").join("damaged").join("hookline.deliveries");
    assert!(aside.is_dir(), "the damaged part is kept in {}", aside.display());

    // A torn tail, as a crash in the middle of a write leaves one: cut without a word.
    let attempts = segments_with_records(dir.path(), "hookline.attempts");
    let mut file = std::fs::OpenOptions::new().append(true).open(&attempts[0]).unwrap();
    file.write_all(&[0x40, 0x01, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3]).unwrap();
    drop(file);

    let service = Service::start_in(dir.path(), &[]).await;
    wait_until(Duration::from_secs(30), "ready after the repair", || async {
        (service.get("/ready").await.0 == 200).then_some(())
    })
    .await;
    let after = service.ingest_ok(&sub, r#"{"after":"repair"}"#, &[]).await;
    service.wait_task(&after, "succeeded", Duration::from_secs(30)).await;
}
