//! Every statement the store sends is answered from an index: `EXPLAIN QUERY PLAN` of each
//! one (all of `store::statements()`; the native database refuses any statement not in it)
//! must neither scan a table or a whole index nor sort its result in a temporary B-tree,
//! either of which reads every row a project (or the whole database) has.

use rtcgate::native::SqliteDb;

fn problems(plan: &[String]) -> Vec<&String> {
    plan.iter()
        .filter(|step| {
            // A scan reads everything. Two scans read no table: "SCAN CONSTANT ROW" is a VALUES
            // list, and a VIRTUAL TABLE is `json_each` over a bound parameter (the schema has no
            // virtual tables of its own).
            (step.starts_with("SCAN ") && !step.starts_with("SCAN CONSTANT ROW") && !step.contains(" VIRTUAL TABLE "))
                || step.contains("TEMP B-TREE")
        })
        .collect()
}

#[test]
fn every_store_statement_uses_an_index() {
    let db = SqliteDb::in_memory_migrated();
    let statements = rtcgate::store::statements();
    let mut failures = Vec::new();
    for sql in &statements {
        // A plain INSERT has no plan steps (it reads nothing); preparing it still checks it.
        let plan = db.plan(sql);
        let mut bad = problems(&plan);
        // One sort is allowed: the project's usage groups the sessions of its time range by room
        // (`usage_reads_a_time_range_of_one_project` holds it to that range), so it sorts only
        // the rows the index range returned — what the Worker used to read and sum itself.
        if is_project_usage(sql) {
            bad.retain(|step| step.as_str() != "USE TEMP B-TREE FOR GROUP BY");
        }
        if !bad.is_empty() {
            failures.push(format!("{sql}\n    plan: {plan:?}"));
        }
    }
    assert!(failures.is_empty(), "statements that read more than their index allows:\n{}", failures.join("\n"));
}

#[test]
fn the_statement_list_covers_every_table_and_kind() {
    let statements = rtcgate::store::statements();
    for table in [
        "projects",
        "api_keys",
        "rooms",
        "participants",
        "idempotency",
        "recordings",
        "events",
        "vendor_nonces",
        "participant_sessions",
        "webhooks",
        "webhook_deliveries",
    ] {
        assert!(statements.iter().any(|s| s.contains(&format!(" {table} "))), "nothing on {table}");
    }
    for kind in ["SELECT", "INSERT", "UPDATE", "DELETE"] {
        assert!(statements.iter().any(|s| s.starts_with(kind)), "no {kind}");
    }
}

#[test]
fn the_check_catches_a_scan_and_an_unindexed_sort() {
    let db = SqliteDb::in_memory_migrated();
    assert!(!problems(&db.plan("SELECT id FROM rooms WHERE vendor = ?1")).is_empty());
    assert!(!problems(&db.plan("SELECT id FROM rooms WHERE project_id = ?1 ORDER BY name")).is_empty());
    assert!(problems(&db.plan("SELECT id FROM rooms WHERE id = ?1")).is_empty());
    // Walking a JSON parameter is allowed; a table read for each of its elements is not.
    assert!(problems(&db.plan("SELECT value FROM json_each(?1)")).is_empty());
    assert!(!problems(&db.plan("SELECT id FROM rooms WHERE vendor IN (SELECT value FROM json_each(?1))")).is_empty());
}

#[test]
#[should_panic(expected = "missing from store::statements()")]
fn the_native_database_refuses_a_statement_the_plan_check_does_not_know() {
    use rtcgate::runtime::Db;
    let db = SqliteDb::in_memory_migrated();
    let _ = rtcgate::native::block_on(db.query("SELECT id FROM rooms WHERE vendor = ?1", &["x".into()]));
}

/// `n` live rooms in project `prj_big` (room `i` is `rm_` + 22 characters, named `room-i`).
fn with_rooms(n: u32) -> rtcgate::native::NativeRuntime {
    let native = rtcgate::native::NativeRuntime::new(1_700_000_000_000);
    native.db.exec_raw(&format!(
        "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < {n}) \
         INSERT INTO rooms (id, project_id, name, vendor, created_at_ms) \
         SELECT printf('rm_%022d', n), 'prj_big', 'room-' || n, 'agora', 1700000000000 + n FROM i"
    ));
    native
}

/// What SQLite does to find one room by id and by name (VM steps: a count, not a time).
fn lookup_steps(native: &rtcgate::native::NativeRuntime) -> (u64, u64) {
    let rt = &native.runtime;
    let before = native.db.vm_steps();
    let by_id = rtcgate::native::block_on(rtcgate::store::rooms::find(rt, "prj_big", "rm_0000000000000000000007"));
    assert_eq!(by_id.unwrap().unwrap().name, "room-7");
    let after_id = native.db.vm_steps();
    let by_name = rtcgate::native::block_on(rtcgate::store::rooms::find(rt, "prj_big", "room-7"));
    assert_eq!(by_name.unwrap().unwrap().id, "rm_0000000000000000000007");
    (after_id - before, native.db.vm_steps() - after_id)
}

#[test]
fn finding_a_room_reads_the_same_whatever_the_project_holds() {
    let few = lookup_steps(&with_rooms(10));
    let many = lookup_steps(&with_rooms(5_000));
    assert_eq!(few, many, "steps for (id, name) with 10 rooms vs 5 000");
}

/// The project-wide usage statement (not one room's).
fn is_project_usage(sql: &str) -> bool {
    sql.starts_with("SELECT")
        && sql.contains(" FROM participant_sessions ")
        && sql.contains("GROUP BY room_id")
        && !sql.contains("room_id = ?4")
}

#[test]
fn usage_reads_a_time_range_of_one_project() {
    let db = SqliteDb::in_memory_migrated();
    let usage: Vec<String> = rtcgate::store::statements()
        .into_iter()
        .filter(|s| {
            s.starts_with("SELECT") && s.contains(" FROM participant_sessions ") && s.contains("joined_at_ms >= ?2")
        })
        .collect();
    assert_eq!(usage.len(), 2, "the project's usage, and one room's");
    for sql in &usage {
        // Summed by D1, never read row by row into the Worker.
        assert!(sql.contains("SUM(seconds)") && sql.contains("GROUP BY room_id"), "{sql}");
        let plan = db.plan(sql);
        // One room's sessions come in room order already; the project's range is grouped by room.
        let steps = if is_project_usage(sql) { 2 } else { 1 };
        assert_eq!(plan.len(), steps, "{plan:?}");
        // The index starts with the project and bounds the start time.
        assert!(plan[0].contains("(project_id=? AND "), "{sql}\n    plan: {plan:?}");
        assert!(plan[0].contains("joined_at_ms>? AND joined_at_ms<?)"), "{sql}\n    plan: {plan:?}");
    }
}

/// The scheduled job's statements sweep the shared database for every project (retention
/// deletes, reconciliation's queue of open sessions): they cannot be scoped by project, so
/// they are held instead to their own bound — each deletes or reads at most `LIMIT` rows,
/// found oldest first through an index on the row's age, never by a scan or a sort.
#[test]
fn the_scheduled_jobs_sweeps_are_bounded_and_read_only_what_they_touch() {
    let db = SqliteDb::in_memory_migrated();
    let sweeps = rtcgate::store::retention::statements();
    assert_eq!(sweeps.len(), 5, "events, deliveries, sessions, idempotency, nonces");
    for sql in &sweeps {
        assert!(sql.starts_with("DELETE FROM ") && sql.contains(" LIMIT ?2)"), "{sql}");
        let plan = db.plan(sql);
        assert!(problems(&plan).is_empty(), "{sql}\n    plan: {plan:?}");
        // The batch is chosen through the age index (a range, not the whole table) …
        assert!(plan.iter().any(|s| s.starts_with("SEARCH ") && s.contains("_ms<?)")), "{sql}\n    plan: {plan:?}");
        // … and each of its rows deleted by rowid.
        assert!(plan.iter().any(|s| s.contains("USING INTEGER PRIMARY KEY (rowid=?)")), "{sql}\n    plan: {plan:?}");
    }
    let queue: Vec<String> = rtcgate::store::statements()
        .into_iter()
        .filter(|s| s.starts_with("SELECT") && s.contains("checked_at_ms"))
        .collect();
    assert_eq!(queue.len(), 2, "the rooms due, and one room's open sessions");
    for sql in &queue {
        assert!(sql.contains("ORDER BY") && sql.contains("LIMIT ?2"), "{sql}");
        let plan = db.plan(sql);
        assert!(
            plan.iter().any(|s| s.contains("participant_sessions_") && s.contains("unchecked")),
            "{sql}\n    plan: {plan:?}"
        );
    }
}
