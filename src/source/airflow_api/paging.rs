//! Paging of the API's lists: cursor (keyset) paging where the server offers it (Airflow
//! 3.3+), else offset paging. A resource's list builds its own query with the page size from
//! [`Pager::limit`] and the position from [`Pager::position`], then tells the pager what the
//! page held ([`Pager::advance`]); [`Pager::done`] says when the list is over.

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
}

impl Pager {
    /// Before the first page, at the configured page size.
    pub(super) fn new() -> Self {
        Pager {
            offset: 0,
            cursor: None,
            done: false,
            limit: None,
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

    /// Moves past a page that held `page`.
    pub(super) fn advance(&mut self, page: PageFacts<'_>) {
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
    }
}
