//! Leases, fenced writes and pub/sub of the state store against a real redis-server, through the
//! library (`driftd::store`), including a subscriber that outlives a redis-server restart.

use std::time::{Duration, Instant};

use driftd::store::config::RedisStateConfig;
use driftd::store::{AnyStore, RedisStore, StateStore, StoreError};

use crate::harness::*;

/// A store on `redis` with a key prefix of the test's own.
async fn store(redis: &Redis, prefix: &str) -> AnyStore {
    let cfg = RedisStateConfig {
        url: redis.url(),
        key_prefix: prefix.to_owned(),
        timeout: Duration::from_millis(500),
        ..Default::default()
    };
    AnyStore::Redis(RedisStore::connect(&cfg, None).await.unwrap())
}

/// Two owners contend for a lease; it expires and changes hands with a higher fencing token; the
/// old owner can neither renew nor write under it any more, the new one can.
#[test]
fn redis_lease_contention_expiry_and_fencing() {
    let redis = Redis::start();
    let prefix = unique("driftd-lease");
    runtime().block_on(async {
        // Two processes' worth of stores on the same Redis and prefix.
        let a = store(&redis, &prefix).await;
        let b = store(&redis, &prefix).await;
        let ttl = Duration::from_millis(300);

        let la = a
            .acquire_lease("churn", "owner-a", ttl)
            .await
            .unwrap()
            .expect("a takes the free lease");
        assert_eq!(la.name, "churn");
        assert_eq!(la.owner, "owner-a");
        assert_eq!(
            b.acquire_lease("churn", "owner-b", ttl).await.unwrap(),
            None
        );
        // A different name is a different lease.
        assert!(
            b.acquire_lease("fraud", "owner-b", ttl)
                .await
                .unwrap()
                .is_some()
        );
        assert!(a.renew_lease(&la, ttl).await.unwrap());
        let renewed = Instant::now();
        a.put_all_fenced(&la, vec![("model/churn".into(), b"by a".to_vec())])
            .await
            .unwrap();
        assert_eq!(b.get("model/churn").await.unwrap(), Some(b"by a".to_vec()));

        // a stops renewing (a long pause); b keeps trying and gets the lease once it expired,
        // not before.
        let lb = loop {
            if let Some(l) = b
                .acquire_lease("churn", "owner-b", Duration::from_secs(30))
                .await
                .unwrap()
            {
                break l;
            }
            assert!(
                renewed.elapsed() < Duration::from_secs(10),
                "the lease never expired"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(
            renewed.elapsed() >= ttl,
            "b took the lease {:?} after a renewed it for {ttl:?}",
            renewed.elapsed()
        );
        assert!(lb.token > la.token, "{lb:?} after {la:?}");

        // a wakes up: its write is fenced off and nothing of it lands.
        let err = a
            .put_all_fenced(
                &la,
                vec![
                    ("model/churn".into(), b"stale".to_vec()),
                    ("model/churn-extra".into(), b"stale".to_vec()),
                ],
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Fenced(name) if name == "churn"),
            "{err}"
        );
        assert_eq!(a.get("model/churn").await.unwrap(), Some(b"by a".to_vec()));
        assert_eq!(a.get("model/churn-extra").await.unwrap(), None);
        assert!(!a.renew_lease(&la, ttl).await.unwrap());
        // Releasing the lost lease is a no-op: b still holds it.
        a.release_lease(&la).await.unwrap();
        assert_eq!(
            a.acquire_lease("churn", "owner-a", ttl).await.unwrap(),
            None
        );

        // b's writes land, under the same key prefix as every other key.
        b.put_all_fenced(
            &lb,
            vec![
                ("model/churn".into(), b"by b".to_vec()),
                ("model/churn-extra".into(), b"by b".to_vec()),
            ],
        )
        .await
        .unwrap();
        assert_eq!(a.get("model/churn").await.unwrap(), Some(b"by b".to_vec()));
        assert_eq!(
            a.get("model/churn-extra").await.unwrap(),
            Some(b"by b".to_vec())
        );
        assert!(b.renew_lease(&lb, ttl).await.unwrap());

        // b releases; a takes it again with a still higher token.
        b.release_lease(&lb).await.unwrap();
        assert!(!b.renew_lease(&lb, ttl).await.unwrap());
        assert!(matches!(
            b.put_all_fenced(&lb, vec![("model/churn".into(), b"late".to_vec())])
                .await,
            Err(StoreError::Fenced(_))
        ));
        let la2 = a
            .acquire_lease("churn", "owner-a", ttl)
            .await
            .unwrap()
            .expect("a takes the released lease");
        assert!(la2.token > lb.token, "{la2:?} after {lb:?}");
        assert_eq!(a.get("model/churn").await.unwrap(), Some(b"by b".to_vec()));
    });
}

/// Receives one message within `timeout`.
async fn recv_within(
    rx: &mut tokio::sync::mpsc::Receiver<Vec<u8>>,
    timeout: Duration,
) -> Option<Vec<u8>> {
    tokio::time::timeout(timeout, rx.recv())
        .await
        .ok()
        .flatten()
}

/// A message published on one store reaches a subscriber on another, through redis-server; the
/// channel is prefixed, so another deployment's channel of the same name stays separate.
#[test]
fn redis_publish_subscribe_round_trip() {
    let redis = Redis::start();
    let prefix = unique("driftd-pubsub");
    runtime().block_on(async {
        let publisher = store(&redis, &prefix).await;
        let subscriber = store(&redis, &prefix).await;
        let elsewhere = store(&redis, &format!("{prefix}-other")).await;

        let mut rx = subscriber.subscribe("models").await.unwrap();
        let mut other_rx = elsewhere.subscribe("models").await.unwrap();
        assert_eq!(
            publisher.publish("models", b"churn v2").await.unwrap(),
            1,
            "exactly one subscriber on the prefixed channel"
        );
        assert_eq!(
            recv_within(&mut rx, Duration::from_secs(5)).await,
            Some(b"churn v2".to_vec())
        );
        // Binary payloads arrive intact.
        let binary: Vec<u8> = (0..=255).collect();
        publisher.publish("models", &binary).await.unwrap();
        assert_eq!(
            recv_within(&mut rx, Duration::from_secs(5)).await,
            Some(binary)
        );
        assert_eq!(
            recv_within(&mut other_rx, Duration::from_millis(300)).await,
            None
        );

        // Dropping the receiver ends the subscription (its connection unsubscribes).
        drop(rx);
        let start = Instant::now();
        loop {
            if publisher.publish("models", b"anyone?").await.unwrap() == 0 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the dropped subscriber is still subscribed"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

/// A subscriber survives a redis-server restart: after it, a newly published message arrives.
#[test]
fn redis_subscriber_survives_a_server_restart() {
    let mut redis = Redis::start();
    let prefix = unique("driftd-pubsub-restart");
    let rt = runtime();
    let (publisher, mut rx) = rt.block_on(async {
        let publisher = store(&redis, &prefix).await;
        let subscriber = store(&redis, &prefix).await;
        let mut rx = subscriber.subscribe("models").await.unwrap();
        publisher.publish("models", b"before").await.unwrap();
        assert_eq!(
            recv_within(&mut rx, Duration::from_secs(5)).await,
            Some(b"before".to_vec())
        );
        (publisher, rx)
    });

    // The server goes away (stop waits until its port is closed) and comes back.
    redis.stop();
    redis.restart();

    rt.block_on(async {
        // Messages published while the subscriber is still reconnecting are lost, so keep
        // publishing until one arrives.
        let start = Instant::now();
        let mut n = 0u32;
        loop {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "no message arrived within 15 s of the restart"
            );
            n += 1;
            let msg = format!("after {n}");
            // The publisher's own connection may still be reconnecting too.
            let _ = publisher.publish("models", msg.as_bytes()).await;
            if let Some(got) = recv_within(&mut rx, Duration::from_millis(500)).await {
                let got = String::from_utf8(got).unwrap();
                assert!(got.starts_with("after "), "unexpected message {got:?}");
                break;
            }
        }
        // And the subscription keeps working afterwards.
        publisher.publish("models", b"steady").await.unwrap();
        let mut got = Vec::new();
        while let Some(m) = recv_within(&mut rx, Duration::from_secs(5)).await {
            if m == b"steady" {
                got = m;
                break;
            }
        }
        assert_eq!(got, b"steady".to_vec());
    });
}

/// Writes with deletions (what an incremental checkpoint does: a snapshot replaces log segments)
/// land together or not at all, plain and fenced, on a real redis-server and on the embedded store.
#[test]
fn writes_with_deletions_land_together_and_fenced_ones_only_under_the_lease() {
    let redis = Redis::start();
    let prefix = unique("driftd-write");
    let dir = tempfile::tempdir().unwrap();
    runtime().block_on(async {
        let embedded = AnyStore::Embedded(
            driftd::store::EmbeddedStore::open(&dir.path().join("state.redb")).unwrap(),
        );
        for s in [store(&redis, &prefix).await, embedded] {
            s.put_all(vec![
                ("j/log/0".into(), b"a".to_vec()),
                ("j/log/1".into(), b"b".to_vec()),
            ])
            .await
            .unwrap();
            s.write(
                vec![("j/base".into(), b"snapshot".to_vec())],
                vec!["j/log/0".into(), "j/log/1".into(), "j/log/9".into()],
            )
            .await
            .unwrap();
            assert_eq!(s.get("j/base").await.unwrap(), Some(b"snapshot".to_vec()));
            assert_eq!(s.get("j/log/0").await.unwrap(), None);
            assert_eq!(s.get("j/log/1").await.unwrap(), None);

            let lease = s
                .acquire_lease("w", "owner", Duration::from_secs(60))
                .await
                .unwrap()
                .unwrap();
            s.write_fenced(
                &lease,
                vec![("j/log/0".into(), b"c".to_vec())],
                vec!["j/base".into()],
            )
            .await
            .unwrap();
            assert_eq!(s.get("j/log/0").await.unwrap(), Some(b"c".to_vec()));
            assert_eq!(s.get("j/base").await.unwrap(), None);
            s.release_lease(&lease).await.unwrap();
            // Under a lost lease nothing happens: neither the write nor the deletion.
            assert!(matches!(
                s.write_fenced(
                    &lease,
                    vec![("j/log/1".into(), b"late".to_vec())],
                    vec!["j/log/0".into()],
                )
                .await,
                Err(StoreError::Fenced(_))
            ));
            assert_eq!(s.get("j/log/0").await.unwrap(), Some(b"c".to_vec()));
            assert_eq!(s.get("j/log/1").await.unwrap(), None);
        }
    });
}

/// A partition claimed by its new owner fences off the previous one on real Redis: the claim
/// takes the lease whoever holds it, with a higher token; a write under several leases lands
/// only if every one is still held, else nothing of it does (what keeps an instance that lost a
/// partition to a rebalance from overwriting the new owner's checkpoint).
#[test]
fn a_claimed_partition_fences_off_its_previous_owners_writes() {
    let redis = Redis::start();
    let prefix = unique("driftd-claim");
    runtime().block_on(async {
        let a = store(&redis, &prefix).await;
        let b = store(&redis, &prefix).await;
        let a0 = a.claim_lease("shard/p0", "instance-a").await.unwrap();
        let a1 = a.claim_lease("shard/p1", "instance-a").await.unwrap();
        a.write_fenced_all(
            &[a0.clone(), a1.clone()],
            vec![
                ("cp/p0".into(), b"a:10".to_vec()),
                ("cp/p1".into(), b"a:7".to_vec()),
            ],
            vec![],
        )
        .await
        .unwrap();

        // A rebalance gives p0 to b, although a's claim has no expiry: b takes it over.
        let b0 = b.claim_lease("shard/p0", "instance-b").await.unwrap();
        assert!(b0.token > a0.token, "{b0:?} after {a0:?}");
        b.write_fenced_all(
            std::slice::from_ref(&b0),
            vec![("cp/p0".into(), b"b:12".to_vec())],
            vec![],
        )
        .await
        .unwrap();

        // a has not seen the revocation: its checkpoint of both partitions is refused whole,
        // naming the partition it lost; neither key changes, nothing is deleted.
        let err = a
            .write_fenced_all(
                &[a0.clone(), a1.clone()],
                vec![
                    ("cp/p0".into(), b"a:11".to_vec()),
                    ("cp/p1".into(), b"a:8".to_vec()),
                ],
                vec!["cp/p1".into()],
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Fenced(name) if name == "shard/p0"),
            "{err}"
        );
        assert_eq!(a.get("cp/p0").await.unwrap(), Some(b"b:12".to_vec()));
        assert_eq!(a.get("cp/p1").await.unwrap(), Some(b"a:7".to_vec()));
        // Its own remaining partition alone still writes, with deletions.
        a.write_fenced_all(
            std::slice::from_ref(&a1),
            vec![("cp/p1".into(), b"a:8".to_vec())],
            vec!["gone".into()],
        )
        .await
        .unwrap();
        assert_eq!(b.get("cp/p1").await.unwrap(), Some(b"a:8".to_vec()));
        // Claiming again (a restart of the same instance) is a new owner too.
        let b0_again = b.claim_lease("shard/p0", "instance-b").await.unwrap();
        assert!(b0_again.token > b0.token);
        assert!(matches!(
            b.write_fenced_all(&[b0], vec![("cp/p0".into(), b"old".to_vec())], vec![])
                .await,
            Err(StoreError::Fenced(_))
        ));
    });
}
