//! IAM's marker paging, written once: [`IamAdapter::all_pages`] reads every page of a List*
//! operation, each page a request of its own (rate-limited and counted by `IamAdapter::send`).
//!
//! The SDK's paginators (`into_paginator()`) are not used, for two reasons: their pages would not
//! pass through `send`, so they would neither wait on the adapter's rate limiter nor be counted;
//! and they stop *silently* on a repeated token (`stop_on_duplicate_token` defaults to true),
//! which would truncate a list of users or keys without a word. Here a truncated page without a
//! new marker is an error.

use std::error::Error as StdError;
use std::future::Future;

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};

use super::IamAdapter;
use super::call_error::CallError;

/// The most items IAM returns per page.
pub(super) const PAGE_SIZE: i32 = 1000;

/// One page of a List* answer: its items, and where the next page starts.
pub(super) struct Page<T> {
    pub(super) items: Vec<T>,
    /// IAM's `IsTruncated`: more pages follow.
    pub(super) is_truncated: bool,
    /// IAM's `Marker`: where the next page starts.
    pub(super) marker: Option<String>,
}

impl IamAdapter {
    /// Every item of `operation`, page after page. `request` sends the request for the page that
    /// starts at the marker (`None` for the first; the caller sets `MaxItems` to [`PAGE_SIZE`]);
    /// `split` takes a response apart into a [`Page`], failing on an item keyward cannot read.
    pub(super) async fn all_pages<O, E, T, Fut>(
        &self,
        operation: &'static str,
        request: impl Fn(Option<String>) -> Fut,
        split: impl Fn(O) -> Result<Page<T>, CallError>,
    ) -> Result<Vec<T>, CallError>
    where
        Fut: Future<Output = Result<O, SdkError<E>>>,
        E: ProvideErrorMetadata + StdError + 'static,
    {
        let mut items = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = split(self.send(operation, request(marker.clone())).await?)?;
            items.extend(page.items);
            marker = next_marker(operation, page.is_truncated, page.marker, marker.as_deref())?;
            if marker.is_none() {
                return Ok(items);
            }
        }
    }
}

/// The marker of the next page, `None` after the last page. A truncated page without a new marker
/// is an error: stopping there would silently lose the rest.
fn next_marker(
    operation: &'static str,
    is_truncated: bool,
    marker: Option<String>,
    previous: Option<&str>,
) -> Result<Option<String>, CallError> {
    if !is_truncated {
        return Ok(None);
    }
    match marker {
        Some(marker) if !marker.is_empty() && Some(marker.as_str()) != previous => Ok(Some(marker)),
        Some(_) => Err(CallError::invalid(operation, "a truncated page repeated the previous marker")),
        None => Err(CallError::invalid(operation, "a truncated page has no marker")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_pages_without_a_new_marker_are_errors() {
        assert!(matches!(next_marker("ListUsers", false, None, None), Ok(None)));
        assert!(matches!(next_marker("ListUsers", true, Some("m2".into()), Some("m1")), Ok(Some(m)) if m == "m2"));
        assert!(next_marker("ListUsers", true, None, None).is_err());
        assert!(next_marker("ListUsers", true, Some("m1".into()), Some("m1")).is_err());
    }
}
