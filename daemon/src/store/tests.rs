//! Unit tests of `store`.

use super::*;

#[tokio::test]
async fn embedded_store_round_trips_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/state.redb");
    {
        let s = EmbeddedStore::open(&path).unwrap();
        assert_eq!(s.get("a").await.unwrap(), None);
        s.put_all(vec![
            ("a".into(), b"1".to_vec()),
            ("b".into(), b"2".to_vec()),
        ])
        .await
        .unwrap();
        s.delete("b").await.unwrap();
    }
    let s = EmbeddedStore::open(&path).unwrap();
    assert_eq!(s.get("a").await.unwrap(), Some(b"1".to_vec()));
    assert_eq!(s.get("b").await.unwrap(), None);
}

fn embedded() -> (tempfile::TempDir, AnyStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(&dir.path().join("state.redb")).unwrap();
    (dir, AnyStore::Embedded(s))
}

const LONG: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_millis(50);

#[tokio::test]
async fn embedded_lease_acquire_contend_renew_release() {
    let (_dir, s) = embedded();
    let a = s.acquire_lease("churn", "a", LONG).await.unwrap().unwrap();
    assert_eq!((a.name.as_str(), a.owner.as_str()), ("churn", "a"));
    // Held: nobody else gets it, not even the same owner a second time.
    assert_eq!(s.acquire_lease("churn", "b", LONG).await.unwrap(), None);
    assert_eq!(s.acquire_lease("churn", "a", LONG).await.unwrap(), None);
    // Other names are independent.
    assert!(s.acquire_lease("fraud", "b", LONG).await.unwrap().is_some());
    assert!(s.renew_lease(&a, LONG).await.unwrap());
    // Releasing with a lease that is not the holder does nothing.
    let fake = Lease {
        token: a.token + 100,
        ..a.clone()
    };
    s.release_lease(&fake).await.unwrap();
    assert_eq!(s.acquire_lease("churn", "b", LONG).await.unwrap(), None);
    s.release_lease(&a).await.unwrap();
    assert!(!s.renew_lease(&a, LONG).await.unwrap());
    let b = s.acquire_lease("churn", "b", LONG).await.unwrap().unwrap();
    assert!(b.token > a.token);
    // Releasing an old lease does not touch the new holder's.
    s.release_lease(&a).await.unwrap();
    assert!(s.renew_lease(&b, LONG).await.unwrap());
}

/// Tries to take the lease `name` for `owner` until its holder's lease has expired (failing
/// after 10 s): waits on the lease itself rather than sleeping past its expiry. Returns it and
/// when it was taken.
async fn take_once_expired(
    s: &AnyStore,
    name: &str,
    owner: &str,
    ttl: Duration,
) -> (Lease, std::time::Instant) {
    let start = std::time::Instant::now();
    loop {
        if let Some(l) = s.acquire_lease(name, owner, ttl).await.unwrap() {
            return (l, std::time::Instant::now());
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never expired");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn embedded_lease_expires_and_the_token_increases() {
    let (_dir, s) = embedded();
    let a = s.acquire_lease("churn", "a", SHORT).await.unwrap().unwrap();
    // Renewing extends it past the original expiry: another owner gets it only after the
    // renewed term, not after the first.
    let renewed_for = Duration::from_millis(300);
    let renewed = std::time::Instant::now();
    assert!(s.renew_lease(&a, renewed_for).await.unwrap());
    let (b, taken) = take_once_expired(&s, "churn", "b", SHORT).await;
    assert!(taken - renewed >= renewed_for, "{:?}", taken - renewed);
    // Expired: renewing fails, and the new holder has a higher token.
    assert!(!s.renew_lease(&a, LONG).await.unwrap());
    assert!(b.token > a.token, "{b:?} after {a:?}");
    let (a2, _) = take_once_expired(&s, "churn", "a", LONG).await;
    assert!(a2.token > b.token, "{a2:?} after {b:?}");
}

#[tokio::test]
async fn embedded_fenced_write_is_refused_after_the_lease_is_lost() {
    let (_dir, s) = embedded();
    let a = s.acquire_lease("churn", "a", SHORT).await.unwrap().unwrap();
    s.put_all_fenced(&a, vec![("k1".into(), b"a".to_vec())])
        .await
        .unwrap();
    assert_eq!(s.get("k1").await.unwrap(), Some(b"a".to_vec()));
    let (b, _) = take_once_expired(&s, "churn", "b", LONG).await;
    let err = s
        .put_all_fenced(
            &a,
            vec![
                ("k1".into(), b"stale".to_vec()),
                ("k2".into(), b"stale".to_vec()),
            ],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Fenced(n) if n == "churn"),
        "{err}"
    );
    assert_eq!(s.get("k1").await.unwrap(), Some(b"a".to_vec()));
    assert_eq!(s.get("k2").await.unwrap(), None);
    s.put_all_fenced(&b, vec![("k2".into(), b"b".to_vec())])
        .await
        .unwrap();
    assert_eq!(s.get("k2").await.unwrap(), Some(b"b".to_vec()));
    // Released, and never acquired: both refused.
    s.release_lease(&b).await.unwrap();
    assert!(matches!(
        s.put_all_fenced(&b, vec![]).await,
        Err(StoreError::Fenced(_))
    ));
    let never = Lease {
        name: "other".into(),
        owner: "a".into(),
        token: 1,
    };
    assert!(matches!(
        s.put_all_fenced(&never, vec![]).await,
        Err(StoreError::Fenced(_))
    ));
}

async fn recv(rx: &mut mpsc::Receiver<Vec<u8>>) -> Option<Vec<u8>> {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .ok()
        .flatten()
}

#[tokio::test]
async fn embedded_publish_subscribe_round_trip() {
    let (_dir, s) = embedded();
    assert_eq!(s.publish("models", b"nobody").await.unwrap(), 0);
    let mut rx1 = s.subscribe("models").await.unwrap();
    let mut rx2 = s.subscribe("models").await.unwrap();
    let mut other = s.subscribe("other").await.unwrap();
    assert_eq!(s.publish("models", b"churn v2").await.unwrap(), 2);
    assert_eq!(recv(&mut rx1).await, Some(b"churn v2".to_vec()));
    assert_eq!(recv(&mut rx2).await, Some(b"churn v2".to_vec()));
    assert!(other.try_recv().is_err());
    // A dropped receiver ends its forwarding task, which then stops counting.
    drop(rx2);
    let mut n = 2;
    for _ in 0..100 {
        n = s.publish("models", b"again").await.unwrap();
        if n == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(n, 1);
    assert_eq!(recv(&mut rx1).await, Some(b"again".to_vec()));
}
