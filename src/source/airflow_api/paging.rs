//! Paging of the API's lists: cursor (keyset) paging where the server offers it (Airflow
//! 3.3+), else offset paging. A resource's list builds its own query with the page size from
//! [`Pager::limit`] and the position from [`Pager::position`], then tells the pager what the
//! page held ([`Pager::advance`]); [`Pager::done`] says when the list is over.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use super::client::Generation;

/// Where a list is in its pages.
#[derive(Debug)]
pub(super) struct Pager {
    offset: u64,
    /// None before the first page; then whether the server pages by cursor.
    cursor: Option<Option<String>>,
    done: bool,
    /// Rows per page; None for the configured page size.
    limit: Option<u64>,
    /// Pages read.
    pages: u64,
    /// The cursors already followed: one coming back means the list loops.
    cursors: HashSet<String>,
    /// What the previous page held (see [`fingerprint`]).
    previous: Option<u64>,
}

/// A page's identity: its first and last row keys. Two pages in a row with the same one are the
/// same page again, which a server whose paging is broken sends forever.
pub(super) fn fingerprint<K: Hash>(first: Option<K>, last: Option<K>) -> Option<u64> {
    let first = first?;
    let mut h = DefaultHasher::new();
    first.hash(&mut h);
    last.hash(&mut h);
    Some(h.finish())
}

/// What a page said about the list, for [`Pager::advance`].
#[derive(Debug, Clone, Copy)]
pub(super) struct PageFacts<'a> {
    /// Rows on the page.
    pub(super) got: u64,
    /// The list's `total_entries`.
    pub(super) total_entries: Option<i64>,
    /// `total_entries_limit`: set (not null) only when the server paged by cursor.
    pub(super) total_entries_limit: Option<i64>,
    /// `next_cursor`.
    pub(super) next_cursor: Option<&'a str>,
    /// The page's [`fingerprint`] (None when empty).
    pub(super) fingerprint: Option<u64>,
}

impl Pager {
    /// Before the first page, at the configured page size.
    pub(super) fn new() -> Self {
        Pager {
            offset: 0,
            cursor: None,
            done: false,
            limit: None,
            pages: 0,
            cursors: HashSet::new(),
            previous: None,
        }
    }

    /// Before the first page, at `limit` rows a page.
    pub(super) fn one(limit: u64) -> Self {
        Pager {
            limit: Some(limit),
            ..Pager::new()
        }
    }

    /// Whether the list has no more pages.
    pub(super) fn done(&self) -> bool {
        self.done
    }

    /// Rows to ask for per page: the pager's own limit, else `page_size`.
    pub(super) fn limit(&self, page_size: u64) -> u64 {
        self.limit.unwrap_or(page_size)
    }

    /// The query parameter that says which page is wanted.
    pub(super) fn position(&self, generation: Generation) -> (&'static str, String) {
        match (&self.cursor, generation) {
            // Airflow 3.3+ pages by cursor when asked with an empty one; older 3.x ignore it.
            (None, Generation::V2) => ("cursor", String::new()),
            (Some(Some(cursor)), _) => ("cursor", cursor.clone()),
            _ => ("offset", self.offset.to_string()),
        }
    }

    /// Pages read so far.
    pub(super) fn pages(&self) -> u64 {
        self.pages
    }

    /// Moves past a page that held `page`; an error says how the list loops (the same page
    /// twice in a row, or a cursor that comes back), so the caller stops instead of asking
    /// forever.
    pub(super) fn advance(&mut self, page: PageFacts<'_>) -> Result<(), String> {
        self.pages += 1;
        if page.fingerprint.is_some() && page.fingerprint == self.previous {
            return Err(format!(
                "the same page of {} rows came twice in a row",
                page.got
            ));
        }
        self.previous = page.fingerprint;
        if let Some(next) = page.next_cursor
            && !self.cursors.insert(next.to_string())
        {
            return Err(format!("cursor {next:?} came back"));
        }
        let cursor_mode = match self.cursor {
            None => page.total_entries_limit.is_some(),
            Some(ref c) => c.is_some(),
        };
        if cursor_mode {
            self.done = page.next_cursor.is_none() || page.got == 0;
            self.cursor = Some(page.next_cursor.map(str::to_string));
        } else {
            self.cursor = Some(None);
            self.offset += page.got;
            self.done = page.got == 0
                || page
                    .total_entries
                    .is_some_and(|total| self.offset >= total.max(0) as u64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(got: u64, key: u32, next_cursor: Option<&str>) -> PageFacts<'_> {
        PageFacts {
            got,
            total_entries: Some(1_000_000),
            total_entries_limit: next_cursor.map(|_| 1_000_000),
            next_cursor,
            fingerprint: fingerprint(Some(key), Some(key + 1)),
        }
    }

    #[test]
    fn a_page_or_a_cursor_that_comes_back_stops_the_list() {
        let mut offset = Pager::new();
        offset.advance(page(100, 1, None)).unwrap();
        offset.advance(page(100, 2, None)).unwrap();
        let err = offset.advance(page(100, 2, None)).unwrap_err();
        assert!(err.contains("same page of 100 rows"), "{err}");

        let mut cursor = Pager::new();
        cursor.advance(page(100, 1, Some("a"))).unwrap();
        cursor.advance(page(100, 2, Some("b"))).unwrap();
        let err = cursor.advance(page(100, 3, Some("a"))).unwrap_err();
        assert!(err.contains("cursor \"a\" came back"), "{err}");
        assert_eq!(cursor.pages(), 3);
    }
}
