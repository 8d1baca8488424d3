//! Shared memory against the real broker and a small LFS proxy stand-in on 127.0.0.1
//! (it speaks KafScale's `/lfs/produce` and `/lfs/download` and keeps blobs in memory):
//! large items travel through LFS and arrive intact at the hook, a failing download
//! is retried and then reported, context items expire, and Go-shaped items are read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use kafclaw_envelope::{GroupEnvelope, GroupName, GroupTopic, LfsEnvelope, MemoryItem, Message};
use kafclaw_group::{
    LfsClient, MemoryFailure, MemoryOptions, MemoryShare, OutRecord, SharedMemory, Transport,
};
use kafclaw_testkit::{maybe_skip_kafka, random_group_name};
use sha2::{Digest, Sha256};

use crate::agents::{builder, eventually, transport};

#[derive(Default)]
struct Lfs {
    blobs: Mutex<HashMap<String, Vec<u8>>>,
    produced: Mutex<Vec<(String, String)>>,
    downloads: AtomicU32,
    fail_downloads: AtomicU32,
    down: AtomicBool,
}

async fn produce(
    State(lfs): State<Arc<Lfs>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let Some(topic) = headers.get("X-Kafka-Topic").and_then(|v| v.to_str().ok()) else {
        return (
            StatusCode::BAD_REQUEST,
            r#"{"code":"missing_topic","message":"X-Kafka-Topic is required"}"#.into(),
        );
    };
    let request_id = headers
        .get("X-Request-ID")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let key = format!("{topic}/{}", uuid::Uuid::new_v4());
    let sha = hex::encode(Sha256::digest(&body));
    let pointer = LfsEnvelope {
        kfs_lfs: 1,
        bucket: "kafscale".into(),
        key: key.clone(),
        size: body.len() as i64,
        sha256: sha.clone(),
        checksum: sha,
        checksum_alg: "sha256".into(),
        content_type: headers
            .get("Content-Type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .into(),
        created_at: "2026-11-22T00:00:00Z".into(),
        proxy_id: "test-proxy".into(),
        ..LfsEnvelope::default()
    };
    lfs.blobs.lock().unwrap().insert(key, body.to_vec());
    lfs.produced
        .lock()
        .unwrap()
        .push((topic.to_owned(), request_id));
    (StatusCode::OK, serde_json::to_string(&pointer).unwrap())
}

async fn download(
    State(lfs): State<Arc<Lfs>>,
    body: axum::Json<serde_json::Value>,
) -> (StatusCode, Vec<u8>) {
    lfs.downloads.fetch_add(1, Ordering::SeqCst);
    if lfs.down.load(Ordering::SeqCst)
        || lfs
            .fail_downloads
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            b"proxy unavailable".to_vec(),
        );
    }
    let key = body["key"].as_str().unwrap_or_default();
    match lfs.blobs.lock().unwrap().get(key) {
        Some(blob) => (StatusCode::OK, blob.clone()),
        None => (StatusCode::NOT_FOUND, b"no such blob".to_vec()),
    }
}

async fn lfs_server() -> (Arc<Lfs>, String) {
    let lfs = Arc::new(Lfs::default());
    let app = axum::Router::new()
        .route("/lfs/produce", post(produce))
        .route("/lfs/download", post(download))
        .with_state(Arc::clone(&lfs));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (lfs, url)
}

fn options(url: &str) -> MemoryOptions {
    MemoryOptions {
        inline_limit: 1024,
        lfs: Some(LfsClient::new(url, None, Duration::from_secs(5)).unwrap()),
        download_attempts: 4,
        retry_backoff: Duration::from_millis(50),
    }
}

type Got = Arc<Mutex<Vec<SharedMemory>>>;
type Failed = Arc<Mutex<Vec<MemoryFailure>>>;

fn got_titles(got: &Got) -> Vec<String> {
    got.lock()
        .unwrap()
        .iter()
        .map(|m| m.item.title.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_large_item_travels_through_lfs_and_arrives_intact_at_the_hook() {
    let broker = maybe_skip_kafka!();
    let group = random_group_name();
    let (lfs, url) = lfs_server().await;
    let got: Got = Arc::default();
    let sink = Arc::clone(&got);
    let reader = builder(&broker, &group, "reader")
        .memory_options(options(&url))
        .memory_hook(move |m| sink.lock().unwrap().push(m))
        .build()
        .await
        .unwrap();
    let author = builder(&broker, &group, "author")
        .memory_options(options(&url))
        .build()
        .await
        .unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let item = author
        .share_memory(
            MemoryShare::new("the big report", big.clone())
                .content_type("application/octet-stream")
                .tags(["report", "q4"]),
        )
        .await
        .unwrap();
    assert!(item.lfs_envelope.is_some() && item.content.is_none());
    assert!(
        uuid::Uuid::parse_str(&item.item_id).is_ok(),
        "{}",
        item.item_id
    );
    let small = author
        .share_memory(MemoryShare::new("a note", "short and inline"))
        .await
        .unwrap();
    assert_eq!(small.content.as_deref(), Some("short and inline"));
    eventually("both items reach the hook", || {
        got.lock().unwrap().len() == 2
    })
    .await;
    let got = got.lock().unwrap().clone();
    let large = got
        .iter()
        .find(|m| m.item.title == "the big report")
        .unwrap();
    assert_eq!(large.content, big);
    assert_eq!(large.author, "author");
    assert_eq!(large.tags, ["report", "q4"]);
    let shared = GroupName::new(group.as_str())
        .unwrap()
        .topic(GroupTopic::MemoryShared);
    assert_eq!(large.provenance.topic, shared);
    assert_eq!(large.provenance.sender, "author");
    let note = got.iter().find(|m| m.item.title == "a note").unwrap();
    assert_eq!(note.text(), "short and inline");
    // Only the large item went through the proxy, to memory.shared, with its id.
    assert_eq!(
        *lfs.produced.lock().unwrap(),
        [(shared.clone(), item.item_id.clone())]
    );
    assert_eq!(reader.memory_items().len(), 2);
    // Without a proxy, content over the limit is refused with the setting named.
    let no_lfs = builder(&broker, &group, "no-lfs").build().await.unwrap();
    let err = no_lfs
        .share_memory(MemoryShare::new("too big", vec![b'x'; 100_000]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("group.lfsProxyUrl"), "{err}");
    for a in [reader, author, no_lfs] {
        a.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_download_is_retried_and_then_reported_never_dropped() {
    let broker = maybe_skip_kafka!();
    let group = random_group_name();
    let (lfs, url) = lfs_server().await;
    let got: Got = Arc::default();
    let failed: Failed = Arc::default();
    let (sink, fsink) = (Arc::clone(&got), Arc::clone(&failed));
    let reader = builder(&broker, &group, "reader")
        .memory_options(options(&url))
        .memory_hook(move |m| sink.lock().unwrap().push(m))
        .memory_error_hook(move |f| fsink.lock().unwrap().push(f))
        .build()
        .await
        .unwrap();
    let author = builder(&broker, &group, "author")
        .memory_options(options(&url))
        .build()
        .await
        .unwrap();
    // Two failures, then the proxy answers: the item arrives after two retries.
    lfs.fail_downloads.store(2, Ordering::SeqCst);
    author
        .share_memory(MemoryShare::new("flaky", vec![b'a'; 5000]))
        .await
        .unwrap();
    eventually("the flaky item arrives", || got_titles(&got) == ["flaky"]).await;
    assert_eq!(reader.stats().protocol.memory_download_retries, 2);
    assert_eq!(got.lock().unwrap()[0].content, vec![b'a'; 5000]);

    // The proxy is down: every attempt fails and the failure is reported.
    lfs.down.store(true, Ordering::SeqCst);
    let before = lfs.downloads.load(Ordering::SeqCst);
    author
        .share_memory(MemoryShare::new("lost?", vec![b'b'; 5000]))
        .await
        .unwrap();
    eventually("the failure is reported", || {
        failed.lock().unwrap().len() == 1
    })
    .await;
    let f = failed.lock().unwrap()[0].clone();
    assert_eq!(f.item.title, "lost?");
    assert_eq!(f.attempts, 4);
    assert!(f.reason.contains("503"), "{}", f.reason);
    assert_eq!(lfs.downloads.load(Ordering::SeqCst) - before, 4);
    let stats = reader.stats().protocol;
    assert_eq!(stats.memory_failures, 1);
    assert_eq!(stats.memory_download_retries, 2 + 3);
    // The item itself is still listed.
    assert!(reader.memory_items().iter().any(|i| i.title == "lost?"));
    reader.shutdown().await;
    author.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_context_item_is_gone_after_its_ttl() {
    let broker = maybe_skip_kafka!();
    let group = random_group_name();
    let got: Got = Arc::default();
    let sink = Arc::clone(&got);
    let reader = builder(&broker, &group, "reader")
        .memory_hook(move |m| sink.lock().unwrap().push(m))
        .build()
        .await
        .unwrap();
    let author = builder(&broker, &group, "author").build().await.unwrap();
    author
        .share_memory(MemoryShare::context(
            "working notes",
            "step 3 of 5",
            Duration::from_secs(2),
        ))
        .await
        .unwrap();
    eventually("the context item arrives", || {
        got_titles(&got) == ["working notes"]
    })
    .await;
    assert_eq!(got.lock().unwrap()[0].text(), "step 3 of 5");
    assert_eq!(reader.memory_items().len(), 1);
    eventually("the context item expires from the list", || {
        reader.memory_items().is_empty()
    })
    .await;
    // An agent that starts after the expiry reads the record but never delivers it.
    let late_got: Got = Arc::default();
    let sink = Arc::clone(&late_got);
    let late = builder(&broker, &group, "late")
        .memory_hook(move |m| sink.lock().unwrap().push(m))
        .build()
        .await
        .unwrap();
    eventually("the late agent skipped the expired item", || {
        late.stats().protocol.memory_expired == 1
    })
    .await;
    assert!(late_got.lock().unwrap().is_empty());
    assert!(late.memory_items().is_empty());
    for a in [reader, author, late] {
        a.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn go_shaped_memory_items_and_blob_records_are_understood() {
    let broker = maybe_skip_kafka!();
    let group = random_group_name();
    let g = GroupName::new(group.as_str()).unwrap();
    let shared = g.topic(GroupTopic::MemoryShared);
    let (_lfs, url) = lfs_server().await;
    let got: Got = Arc::default();
    let sink = Arc::clone(&got);
    let reader = builder(&broker, &group, "reader")
        .memory_options(options(&url))
        .memory_hook(move |m| sink.lock().unwrap().push(m))
        .build()
        .await
        .unwrap();
    // As Go does it: the blob through the proxy (Content-Type application/json), a
    // pointer record on memory.shared itself, then the item without key or extensions.
    let client = LfsClient::new(&url, None, Duration::from_secs(5)).unwrap();
    let body = b"{\"notes\":\"from a Go agent\"}".to_vec();
    let pointer = client
        .produce(
            &shared,
            "mem-1732233600000000000",
            "mem-1732233600000000000",
            "application/json",
            body.clone(),
        )
        .await
        .unwrap();
    let t = transport(&broker).await;
    let raw = |value: Vec<u8>| OutRecord {
        key: None,
        value,
        headers: Default::default(),
    };
    t.produce(&shared, raw(serde_json::to_vec(&pointer).unwrap()))
        .await
        .unwrap();
    let item = MemoryItem {
        item_id: "mem-1732233600000000000".into(),
        author_id: "go-agent".into(),
        title: "go notes".into(),
        content_type: "text/plain".into(),
        tags: vec!["go".into()],
        lfs_envelope: Some(pointer),
        ..MemoryItem::default()
    };
    let env = GroupEnvelope::new("go-agent", Message::Memory(item)).without_extensions();
    t.produce(&shared, raw(env.to_json().unwrap()))
        .await
        .unwrap();
    eventually("the Go item reaches the hook", || {
        got_titles(&got) == ["go notes"]
    })
    .await;
    let m = got.lock().unwrap()[0].clone();
    assert_eq!(m.content, body);
    assert_eq!(m.author, "go-agent");
    assert_eq!(m.tags, ["go"]);
    // The pointer record is not taken for an item.
    assert_eq!(reader.memory_items().len(), 1);
    eventually("the blob record resolves to no item and is skipped", || {
        reader.stats().protocol.skipped_records >= 1
    })
    .await;

    // A whole memory envelope stored through the proxy (as its Kafka port does):
    // the pointer record on the topic is resolved and the item delivered.
    let item = MemoryItem {
        item_id: "0193a1b2-0000-7000-8000-000000000001".into(),
        author_id: "big-agent".into(),
        title: "via pointer".into(),
        content: Some("inside the blob".into()),
        ..MemoryItem::default()
    };
    let env = GroupEnvelope::new("big-agent", Message::Memory(item));
    let pointer = client
        .produce(
            &shared,
            "k",
            "r",
            "application/json",
            env.to_json().unwrap(),
        )
        .await
        .unwrap();
    t.produce(&shared, raw(serde_json::to_vec(&pointer).unwrap()))
        .await
        .unwrap();
    eventually("the pointed-to item reaches the hook", || {
        got_titles(&got).contains(&"via pointer".to_owned())
    })
    .await;
    let m = got
        .lock()
        .unwrap()
        .iter()
        .find(|m| m.item.title == "via pointer")
        .cloned()
        .unwrap();
    assert_eq!(m.text(), "inside the blob");
    assert_eq!(m.provenance.sender, "big-agent");
    reader.shutdown().await;
}
