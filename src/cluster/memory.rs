//! An in-memory [`Kv`], for unit tests only: the daemon always runs on etcd.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{Kv, Result};

#[derive(Default)]
pub struct MemoryKv {
    map: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl Kv for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.map.lock().unwrap().get(key).cloned())
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let map = self.map.lock().unwrap();
        Ok(map
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn list_keys(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self.list(prefix)?.into_iter().map(|(k, _)| k).collect())
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.map
            .lock()
            .unwrap()
            .insert(key.to_string(), value.to_vec());
        Ok(())
    }

    fn put_all_if_absent(&self, guard: &str, puts: &[(String, Vec<u8>)]) -> Result<bool> {
        let mut map = self.map.lock().unwrap();
        if map.contains_key(guard) {
            return Ok(false);
        }
        for (k, v) in puts {
            map.insert(k.clone(), v.clone());
        }
        Ok(true)
    }

    fn write_all(
        &self,
        puts: &[(String, Vec<u8>)],
        keys: &[String],
        prefixes: &[String],
    ) -> Result<()> {
        let mut map = self.map.lock().unwrap();
        for (k, v) in puts {
            map.insert(k.clone(), v.clone());
        }
        for k in keys {
            map.remove(k);
        }
        map.retain(|k, _| !prefixes.iter().any(|p| k.starts_with(p)));
        Ok(())
    }

    fn swap(&self, key: &str, expected: Option<&[u8]>, new: Option<&[u8]>) -> Result<bool> {
        let mut map = self.map.lock().unwrap();
        if map.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        match new {
            Some(v) => map.insert(key.to_string(), v.to_vec()),
            None => map.remove(key),
        };
        Ok(true)
    }

    fn put_ephemeral(&self, key: &str, value: &[u8], _ttl_secs: i64) -> Result<()> {
        self.put(key, value)
    }
}
