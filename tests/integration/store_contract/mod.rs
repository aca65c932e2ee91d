//! The store contract, one suite run against every backend: SQLite (a temp file) and ClickHouse (a
//! fresh database on the suite's server), organised by the store's concerns (one file each, as the
//! traits and the backends are). Each check is written once, against `&dyn Store`.

mod access;
mod archive;
mod directory;
mod hits;
mod ingest;
mod media;
mod outbox;
mod review;
mod rules;

use msgaudit::message::DeadReason;
use msgaudit::store::{ActHitRow, DeadLetter, HitRow};

pub fn dead(corp: &str, seq: u64) -> DeadLetter {
    DeadLetter {
        corp_id: corp.into(),
        seq,
        msg_id: format!("d{seq}"),
        publickey_ver: 3,
        encrypt_random_key: "k".into(),
        encrypt_chat_msg: "m".into(),
        reason: DeadReason::UnknownKeyVersion,
        detail: "no key for version 3".into(),
    }
}

pub fn hit(corp: &str, msg: &str, strategy: i64, words: &[&str], t: i64) -> HitRow {
    HitRow {
        corp_id: corp.into(),
        msg_id: msg.into(),
        strategy_id: strategy,
        strategy_name: format!("策略{strategy}"),
        words: words.iter().map(|w| w.to_string()).collect(),
        spans: vec![(0, 6)],
        content: "【私下】转账".into(),
        from_id: "zhangsan".into(),
        to_list: "lisi".into(),
        room_id: if strategy == 2 {
            "wr1".into()
        } else {
            String::new()
        },
        msg_time: 1_700_000_000_000 + t,
        direction: "sent".into(),
        audit_user_id: "wangwu".into(),
        send_status: if strategy == 2 { 3 } else { 0 },
        rules_version: 1,
    }
}

pub fn act(corp: &str, msg: &str, id: i64, name: &str, t: i64) -> ActHitRow {
    ActHitRow {
        corp_id: corp.into(),
        msg_id: msg.into(),
        sensitive_act_id: id,
        sensitive_act: name.into(),
        operator_id: "zhangsan".into(),
        operator: "张三".into(),
        operate_target_id: "lisi".into(),
        operate_target: "李四".into(),
        detail: "13800138000".into(),
        msg_time: 1_700_000_000_000 + t,
    }
}

/// An hour in ms.
pub const HOUR: i64 = 3_600_000;

/// The clock, in epoch ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// One `#[test]` per check and backend, in a module per concern:
/// `store_contract::sqlite::ingest::a_replayed_batch_changes_nothing`, and the same under
/// `clickhouse`.
macro_rules! contract {
    ($($concern:ident: [$($check:ident),* $(,)?]),* $(,)?) => {
        mod sqlite {
            $(mod $concern {
                $(
                    #[test]
                    fn $check() {
                        let dir = tempfile::tempdir().expect("temp dir");
                        let store = msgaudit::store::SqliteStore::open(dir.path().join("t.db"))
                            .expect("open");
                        super::super::$concern::$check(&store);
                    }
                )*
            })*
        }
        mod clickhouse {
            $(mod $concern {
                $(
                    #[test]
                    fn $check() {
                        let url = crate::support::clickhouse_url(stringify!($check));
                        let store = msgaudit::store::clickhouse::ClickHouseStore::open(&url)
                            .expect("open");
                        super::super::$concern::$check(&store);
                        store.drop_database().expect("drop the test database");
                    }
                )*
            })*
        }
        /// The same checks on a two-shard cluster: `Distributed` tables over each shard's
        /// local ones, entered through the first server.
        mod clickhouse_cluster {
            $(mod $concern {
                $(
                    #[test]
                    fn $check() {
                        let cluster = crate::support::ClusterStore::create(stringify!($check));
                        super::super::$concern::$check(&cluster.store);
                    }
                )*
            })*
        }
    };
}

contract!(
    ingest: [
        a_replayed_batch_changes_nothing,
        the_checkpoint_never_moves_backwards,
        paging_by_seq_visits_every_message_of_every_corp_once,
        queries_filter_and_redrive_resolves,
        progress_names_each_corps_checkpoint_newest_message_and_stuck_letters,
    ],
    hits: [
        hits_are_idempotent_filterable_and_counted,
        context_reads_the_conversation_around_a_message,
        hits_are_found_by_conversation,
        workspace_queries_filter_page_and_count,
        pages_run_newest_first_across_years,
        daily_counts_follow_the_time_zone,
        daily_counts_and_totals_agree_with_the_hits,
    ],
    rules: [rules_round_trip_as_whole_versions],
    review: [
        reviews_are_set_replaced_and_kept_in_history,
        hits_filter_and_count_by_review_state,
    ],
    outbox: [
        the_alert_outbox_claims_records_and_settles,
        a_corps_backlog_of_alerts_leaves_room_for_the_others,
        pending_alerts_leave_out_the_routes_asked,
    ],
    access: [accounts_replace_by_name_and_the_operation_log_reads_newest_first],
    archive: [
        conversations_are_listed_per_person_and_room_with_counts,
        a_conversation_pages_both_ways,
        search_finds_plain_and_normalised_with_filters_and_visibility,
        pages_run_across_years,
    ],
    directory: [names_are_saved_replaced_and_found, names_are_found_by_part_of_them],
    media: [
        jobs_are_written_with_their_messages_and_keep_their_state_across_replays,
        dead_jobs_are_listed_by_reason_retried_and_summed_up,
        voice_without_a_copy_is_listed_and_made_playable,
    ],
);
