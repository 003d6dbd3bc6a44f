//! A store whose writes land only while a lease is held (fencing), for work that must stop the
//! moment its owner loses the lease.

use crate::store::{AnyStore, Lease, StateStore, StoreError};

/// A store whose writes only land while a lease is held: the registry writes of a retrain go
/// through it, so a paused or partitioned instance that lost its lease cannot promote anything.
#[derive(Clone)]
pub struct FencedStore {
    inner: AnyStore,
    lease: Lease,
}

impl FencedStore {
    /// `inner`, writing only while `lease` is held.
    pub fn new(inner: AnyStore, lease: Lease) -> Self {
        FencedStore { inner, lease }
    }
}

impl StateStore for FencedStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key).await
    }
    async fn put_all(&self, entries: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
        self.inner.put_all_fenced(&self.lease, entries).await
    }
    async fn write(
        &self,
        puts: Vec<(String, Vec<u8>)>,
        deletes: Vec<String>,
    ) -> Result<(), StoreError> {
        self.inner.write_fenced(&self.lease, puts, deletes).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}
