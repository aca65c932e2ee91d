//! Accounts and the operation log (`AccessStore`).

use msgaudit::store::Store;

pub(super) fn accounts_replace_by_name_and_the_operation_log_reads_newest_first(s: &dyn Store) {
    use msgaudit::store::{Account, OperLog, Role};
    let account = Account {
        user_name: "wangwu".into(),
        we_user_id: "wangwu".into(),
        role: Role::Auditor,
        secret_hash: "scrypt$15$AAAA$BBBB".into(),
        disabled: false,
        create_time_ms: 5,
    };
    s.save_account(&account).expect("account");
    s.save_account(&Account {
        disabled: true,
        ..account.clone()
    })
    .expect("disable");
    assert_eq!(
        s.accounts().expect("accounts"),
        [Account {
            disabled: true,
            ..account
        }]
    );
    let op = OperLog {
        title: "导出命中".into(),
        method: "export_csv".into(),
        request_method: "GET".into(),
        oper_name: "wangwu".into(),
        oper_url: "/api/export.csv".into(),
        oper_ip: "127.0.0.1".into(),
        oper_param: "strategy=1".into(),
        status: 0,
        oper_time_ms: 42,
    };
    s.log_operation(&op).expect("log");
    assert_eq!(s.operations(5).expect("ops"), [op]);
}
