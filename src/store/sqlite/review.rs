//! Reviews on SQLite: the current review of each reviewed hit and its history, written in one
//! transaction, and hit totals by review state.

use rusqlite::{Row, params};

use super::hits::hit_totals;
use super::{SqliteStore, select, sql};
use crate::store::{
    HitKey, HitKind, HitQuery, Review, ReviewState, ReviewStore, StateCounts, StoreError,
};

const REVIEW_COLUMNS: &str =
    "corp_id, hit_kind, msg_id, target_id, review_state, review_note, reviewer, review_time";

fn review_from(r: &Row<'_>) -> rusqlite::Result<Review> {
    let kind: u8 = r.get(1)?;
    let state: u8 = r.get(4)?;
    Ok(Review {
        key: HitKey {
            kind: HitKind::from_code(kind).unwrap_or(HitKind::Strategy),
            corp_id: r.get(0)?,
            msg_id: r.get(2)?,
            id: r.get(3)?,
        },
        state: ReviewState::from_code(state),
        note: r.get(5)?,
        reviewer: r.get(6)?,
        time_ms: r.get(7)?,
    })
}

impl ReviewStore for SqliteStore {
    fn record_reviews(&self, reviews: &[Review]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(sql("starting a review"))?;
        {
            let mut current = tx
                .prepare_cached(&format!(
                    "INSERT INTO we_sensitive_review ({REVIEW_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (corp_id, hit_kind, msg_id, target_id) DO UPDATE SET
                       review_state = excluded.review_state, review_note = excluded.review_note,
                       reviewer = excluded.reviewer, review_time = excluded.review_time"
                ))
                .map_err(sql("preparing a review"))?;
            let mut log = tx
                .prepare_cached(&format!(
                    "INSERT INTO we_sensitive_review_log ({REVIEW_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ))
                .map_err(sql("preparing a review's history"))?;
            for r in reviews {
                let values = params![
                    r.key.corp_id,
                    r.key.kind.code(),
                    r.key.msg_id,
                    r.key.id,
                    r.state.code(),
                    r.note,
                    r.reviewer,
                    r.time_ms
                ];
                current.execute(values).map_err(sql("saving a review"))?;
                log.execute(values)
                    .map_err(sql("saving a review's history"))?;
            }
        }
        tx.commit().map_err(sql("committing reviews"))
    }

    fn reviews_of(&self, keys: &[HitKey]) -> Result<Vec<Review>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {REVIEW_COLUMNS} FROM we_sensitive_review
                 WHERE corp_id = ?1 AND hit_kind = ?2 AND msg_id = ?3 AND target_id = ?4"
            ))
            .map_err(sql("preparing a review lookup"))?;
        let mut out = Vec::new();
        for k in keys {
            let mut rows = stmt
                .query_map(
                    params![k.corp_id, k.kind.code(), k.msg_id, k.id],
                    review_from,
                )
                .map_err(sql("reading a review"))?;
            if let Some(r) = rows.next() {
                out.push(r.map_err(sql("reading a review"))?);
            }
        }
        Ok(out)
    }

    fn review_history(&self, key: &HitKey) -> Result<Vec<Review>, StoreError> {
        select(
            &self.conn(),
            &format!(
                "SELECT {REVIEW_COLUMNS} FROM we_sensitive_review_log
                 WHERE corp_id = ?1 AND hit_kind = ?2 AND msg_id = ?3 AND target_id = ?4
                 ORDER BY review_time DESC, id DESC"
            ),
            params![key.corp_id, key.kind.code(), key.msg_id, key.id],
            "reading a review's history",
            review_from,
        )
    }

    fn hit_totals(&self, kind: HitKind, query: &HitQuery) -> Result<StateCounts, StoreError> {
        hit_totals(&self.conn(), kind == HitKind::Strategy, query)
    }
}
