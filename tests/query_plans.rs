//! Every statement the store sends is answered from an index: `EXPLAIN QUERY PLAN` of each
//! one (all of `store::statements()`; the native database refuses any statement not in it)
//! must neither scan a table or a whole index nor sort its result in a temporary B-tree,
//! either of which reads every row a project (or the whole database) has.

use rtcgate::domain::limits::Quota;
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

/// Every table of the schema (read from SQLite, so a new table is covered the day it is made).
fn schema_tables(db: &SqliteDb) -> Vec<String> {
    db.rows("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_statement_list_covers_every_table_and_kind() {
    let db = SqliteDb::in_memory_migrated();
    let statements = rtcgate::store::statements();
    let tables = schema_tables(&db);
    assert!(tables.len() >= 12 && tables.iter().any(|t| t == "recording_destinations"), "{tables:?}");
    for table in &tables {
        assert!(!touched(&statements, table).is_empty(), "nothing on {table}");
    }
    for kind in ["SELECT", "INSERT", "UPDATE", "DELETE"] {
        assert!(statements.iter().any(|s| s.starts_with(kind)), "no {kind}");
    }
}

/// The statements that read or write `table`.
fn touched<'a>(statements: &'a [String], table: &str) -> Vec<&'a String> {
    statements
        .iter()
        .filter(|s| {
            let s = format!("{s} ");
            ["FROM", "INTO", "UPDATE", "JOIN"].iter().any(|verb| s.contains(&format!("{verb} {table} ")))
        })
        .collect()
}

/// Tables that hold no project's data: nothing to scope.
const NOT_TENANT_DATA: &[(&str, &str)] =
    &[("vendor_nonces", "a vendor webhook's replay guard: nonces and body hashes, which belong to no project")];

/// The statements on a project's data that are not scoped by `project_id`, each group with why.
/// A statement matches a group when it contains all of the group's fragments.
const UNSCOPED: &[(&[&str], &str)] = &[
    (&["INSERT INTO projects "], "creates a project: the tenant itself, by the admin API"),
    (&["FROM projects WHERE id = ?1"], "reads a project by its id: the tenant itself"),
    (
        &["FROM api_keys AS k WHERE k.key_hash = ?1", "b.project_id = k.project_id"],
        "authentication: the key is what names its project, and the bans it brings are that project's",
    ),
    (
        &["FROM changes AS c LEFT JOIN bans AS b", "WHERE c.seq > ?1"],
        "the change feed: every isolate serves every project, so it follows the deployment's feed (a seq range)",
    ),
    (&["SELECT COALESCE(MAX(seq), 0) AS seq FROM changes"], "the change feed's head (the last row of its key)"),
    (&["FROM bans WHERE rule_due_at_ms <= ?1"], "the scheduled job: vendor ban rules due, in every project"),
    (
        &["UPDATE bans SET ended_at_ms = expires_at_ms WHERE rowid IN"],
        "the scheduled job: ends expired bans of every project, a bounded batch through bans_expiry",
    ),
    (&["FROM api_keys WHERE id = ?1"], "the admin API reads a key by its id (admin token only)"),
    (&["UPDATE api_keys SET revoked_at_ms", "WHERE id = ?1"], "the admin API revokes a key by its id"),
    (
        &[" participants ", "room_id = ?1"],
        "the participant registry has no project_id: it is reached through a room the request found in its project",
    ),
    (
        &["INSERT INTO participants ", "ON CONFLICT (room_id, identity)"],
        "the participant registry's rows (people's, with the uid their isolate gave, and bots'): reached through a room found in its project",
    ),
    (
        &["INSERT INTO participant_uids "],
        "every uid given in a room, recorded like the participant registry: through a room found in its project",
    ),
    (
        &[" participant_sessions ", "WHERE room_id = ?1"],
        "one room's sessions, reached through a room found in its project (or by the scheduled job's queue)",
    ),
    (&["UPDATE recordings SET", "WHERE id = ?1"], "a recording by its id, after it was read in its project"),
    (&["DELETE FROM recordings WHERE id = ?1"], "undoes a recording row this request inserted in its project"),
    (&["UPDATE rooms SET", "WHERE id = ?1"], "a room by its id, after it was read in its project"),
    (&["DELETE FROM rooms WHERE id = ?1"], "undoes a room row this request inserted in its project"),
    (
        &["FROM rooms WHERE id = ?1 AND vendor = ?2"],
        "a vendor webhook names the vendor's room, not a project: the room found says which project",
    ),
    (
        &["FROM streams WHERE id = ?1 AND vendor = ?2"],
        "a vendor notification names our stream (an Agora converter's name): the stream found says which project",
    ),
    (
        &["FROM stream_output_refs WHERE vendor = ?1 AND vendor_ref = ?2"],
        "a vendor notification names only its job's handle (an Agora converter id): the row says which project",
    ),
    (
        &["FROM timed_sessions WHERE queued = 0 AND eject_at_ms <= ?1"],
        "the scheduled job: timed-session deadlines coming within a queue delay's reach, in every project",
    ),
    (&["FROM events WHERE effects_due_at_ms <= ?1"], "the scheduled job: event effects due, in every project"),
    (
        &["FROM streams WHERE status IN ('starting', 'active') AND layout_swept_at_ms IS NOT NULL"],
        "the scheduled job: running streams whose layout is checked next, in every project",
    ),
    (
        &["FROM participant_moderation WHERE rules_expire_at_ms IS NOT NULL"],
        "the scheduled job: vendor moderation rules due for renewal, in every project",
    ),
    (
        &["DELETE FROM participant_moderation WHERE rowid IN (SELECT m.rowid FROM rooms AS r"],
        "the scheduled job: moderation rows of rooms deleted within a window, a bounded batch through rooms_deleted",
    ),
    (
        &["UPDATE participant_moderation SET hard_muted = 0, mute_expires_at_ms = NULL WHERE rowid IN"],
        "the scheduled job: ended mutes cleared, a bounded batch through participant_moderation_mute_expiry",
    ),
    (
        &["FROM timed_sessions WHERE queued = 1 AND handover_at_ms <= ?1"],
        "the scheduled job: queued ejections whose message is overdue (lost), in every project",
    ),
    (&["UPDATE events SET effects_due_at_ms", "WHERE id = ?1"], "the scheduled job: one due event by its id"),
    (
        &["FROM participant_sessions AS s JOIN rooms AS r"],
        "the scheduled job: reconciliation's queue of open sessions, in every project",
    ),
    (
        &["INSERT INTO webhook_deliveries "],
        "fan-out: one delivery per webhook of the event's project (the webhooks were read in that project)",
    ),
    (
        &["FROM webhook_deliveries d JOIN webhooks w", "d.id = ?1"],
        "the delivery queue's consumer: the message carries a delivery id, and the row says its project",
    ),
    (&["UPDATE webhook_deliveries SET", "WHERE id = ?1"], "records the outcome of the delivery being attempted"),
    (&["UPDATE webhooks SET last_attempt_at_ms", "WHERE id = ?1"], "the outcome on the webhook the delivery is for"),
    (&["FROM webhook_deliveries WHERE webhook_id = ?1"], "a delivery of a webhook read in its project"),
    (
        &["DELETE FROM ", " WHERE rowid IN (SELECT rowid FROM "],
        "the scheduled job's retention sweeps, bounded instead (the_scheduled_jobs_sweeps_are_bounded…)",
    ),
];

/// Whether `sql` keeps to one project: it filters by `project_id`, or it is an INSERT that
/// writes the `project_id` column.
fn scoped_by_project(sql: &str) -> bool {
    let insert_columns = ["INSERT INTO ", "INSERT OR IGNORE INTO "]
        .iter()
        .find_map(|prefix| sql.strip_prefix(prefix))
        .and_then(|s| Some(&s[s.find('(')?..s.find(')')?]));
    sql.contains("project_id = ?") || insert_columns.is_some_and(|cols| cols.contains("project_id"))
}

/// The statements on a project's data that neither keep to one project nor are listed in
/// `UNSCOPED`, and the groups of `UNSCOPED` that no statement needs any more.
fn scope_problems(statements: &[String], tables: &[String]) -> (Vec<String>, Vec<&'static str>) {
    let tenant_tables: Vec<&String> = tables.iter().filter(|t| !NOT_TENANT_DATA.iter().any(|(n, _)| n == t)).collect();
    let mut used = vec![false; UNSCOPED.len()];
    let mut unlisted = Vec::new();
    for sql in statements {
        let on_tenant_data = tenant_tables.iter().any(|t| touched(std::slice::from_ref(sql), t).len() == 1);
        if !on_tenant_data || scoped_by_project(sql) {
            continue;
        }
        match UNSCOPED.iter().position(|(fragments, _)| fragments.iter().all(|f| sql.contains(f))) {
            Some(i) => used[i] = true,
            None => unlisted.push(sql.clone()),
        }
    }
    let stale = UNSCOPED.iter().zip(used).filter(|(_, used)| !used).map(|((_, why), _)| *why).collect();
    (unlisted, stale)
}

/// One project never reads or writes another's rows: every statement on a project's data
/// names its `project_id`, or is listed in `UNSCOPED` with the reason it need not.
#[test]
fn every_statement_on_a_projects_data_is_scoped_by_project_or_listed_with_a_reason() {
    let db = SqliteDb::in_memory_migrated();
    let tables = schema_tables(&db);
    for (table, _) in NOT_TENANT_DATA {
        let columns = db.rows(&format!("SELECT name FROM pragma_table_info('{table}')"));
        assert!(!columns.is_empty() && !columns.iter().any(|c| c["name"] == "project_id"), "{table}");
    }
    let (unlisted, stale) = scope_problems(&rtcgate::store::statements(), &tables);
    assert!(unlisted.is_empty(), "statements not scoped by project_id and not in UNSCOPED:\n{}", unlisted.join("\n"));
    assert!(stale.is_empty(), "UNSCOPED groups no statement needs: {stale:?}");
}

#[test]
fn the_scope_check_catches_an_unscoped_statement() {
    let tables = schema_tables(&SqliteDb::in_memory_migrated());
    let caught = |sql: &str| !scope_problems(&[sql.to_owned()], &tables).0.is_empty();
    assert!(caught("SELECT id FROM rooms WHERE name = ?1"));
    assert!(caught("UPDATE webhooks SET url = ?2 WHERE id = ?1"));
    assert!(caught("INSERT INTO recording_destinations (id, kind) VALUES (?1, ?2)"));
    assert!(!caught("SELECT id FROM rooms WHERE project_id = ?1 AND name = ?2"));
    assert!(!caught("SELECT body_sha256 FROM vendor_nonces WHERE vendor = ?1"), "no project's data");
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
            s.starts_with("SELECT")
                && s.contains(" FROM participant_sessions ")
                && s.contains("joined_at_ms >= ?2")
                && s.contains("GROUP BY room_id")
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
    assert_eq!(sweeps.len(), 6, "events, deliveries, sessions, idempotency, nonces, changes");
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

/// The scheduled job's stream layout checks (migration 0024) read the running streams checked
/// longest ago, at most `LIMIT` of them, from the partial index that holds only running streams
/// whose layout rtcgate makes, already in order: ended streams and other vendors' are never read.
#[test]
fn the_stream_layout_sweep_reads_a_bounded_range_of_running_laid_out_streams() {
    let db = SqliteDb::in_memory_migrated();
    let sweeps: Vec<String> = rtcgate::store::statements()
        .into_iter()
        .filter(|s| s.starts_with("SELECT") && s.contains("FROM streams") && s.contains("ORDER BY layout_swept_at_ms"))
        .collect();
    assert_eq!(sweeps.len(), 1, "{sweeps:#?}");
    assert!(sweeps[0].ends_with("LIMIT ?1"), "{}", sweeps[0]);
    let plan = db.plan(&sweeps[0]);
    assert_eq!(
        plan,
        vec!["SEARCH streams USING INDEX streams_layout_sweep (layout_swept_at_ms>?)".to_owned()],
        "{}",
        sweeps[0]
    );
}

/// Session history and presence (`store::sessions`, migration 0021): each list form reads one
/// range of the index that leads with the project and what the form filters by, already in
/// keyset order; the session's vendor is a primary-key lookup of its room; presence reads only
/// the identity's open sessions.
#[test]
fn session_history_and_presence_read_their_own_index_ranges() {
    let db = SqliteDb::in_memory_migrated();
    let reads: Vec<String> = rtcgate::store::statements()
        .into_iter()
        .filter(|s| {
            s.starts_with("SELECT id, room_id, identity, joined_at_ms") && s.contains(" FROM participant_sessions")
        })
        .collect();
    // Four list forms, each a first page and a page after a cursor; get; presence.
    assert_eq!(reads.len(), 10, "{reads:#?}");
    for sql in &reads {
        let plan = db.plan(sql);
        let index = if sql.contains("left_at_ms IS NULL") {
            "participant_sessions_present (project_id=? AND identity=?"
        } else if sql.contains("AND id = ?2") {
            "participant_sessions_id (id=?)"
        } else if sql.contains("identity = ?") {
            // With a room too: the identity's range, filtered by room.
            "participant_sessions_identity_page (project_id=? AND identity=? AND joined_at_ms>? AND joined_at_ms<?)"
        } else if sql.contains("room_id = ?2") {
            "participant_sessions_room_page (project_id=? AND room_id=? AND joined_at_ms>? AND joined_at_ms<?)"
        } else {
            "participant_sessions_page (project_id=? AND joined_at_ms>? AND joined_at_ms<?)"
        };
        assert!(plan[0].contains(index), "{sql}\n    expected {index}\n    plan: {plan:?}");
        assert!(
            plan.iter()
                .skip(1)
                .all(|s| s.contains("SCALAR SUBQUERY")
                    || s.contains("rooms USING INDEX sqlite_autoindex_rooms_1 (id=?)")),
            "{sql}\n    plan: {plan:?}"
        );
    }
}

/// SQLite's steps to count `project`'s moderated participants, with `others` rows of another
/// project beside its three.
fn moderated_count_steps(others: u32) -> u64 {
    let native = rtcgate::native::NativeRuntime::new(1_700_000_000_000);
    native.db.exec_raw(&format!(
        "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i WHERE n < {others}) \
         INSERT INTO participant_moderation (project_id, room_id, identity, hard_muted, updated_at_ms) \
         SELECT 'prj_big', 'rm_1', 'user-' || n, 1, 0 FROM i; \
         INSERT INTO participant_moderation (project_id, room_id, identity, hard_muted, updated_at_ms) \
         VALUES ('prj_small', 'rm_2', 'a', 1, 0), ('prj_small', 'rm_2', 'b', 1, 0), ('prj_small', 'rm_3', 'c', 1, 0);"
    ));
    let before = native.db.vm_steps();
    let used = rtcgate::native::block_on(rtcgate::store::quotas::usage(&native.runtime, "prj_small")).unwrap();
    let index = Quota::ALL.iter().position(|q| *q == Quota::ModeratedParticipants).unwrap();
    assert_eq!(used[index], 3);
    native.db.vm_steps() - before
}

#[test]
fn the_moderated_participants_count_reads_one_projects_index_entries() {
    let db = SqliteDb::in_memory_migrated();
    let count = rtcgate::store::quotas::count_sql(Quota::ModeratedParticipants, "?1");
    let plan = db.plan(&count);
    assert!(
        plan.len() == 1
            && plan[0].starts_with("SEARCH participant_moderation USING COVERING INDEX ")
            && plan[0].ends_with("(project_id=?)"),
        "{count}\n    plan: {plan:?}"
    );
    assert_eq!(moderated_count_steps(1), moderated_count_steps(2_000), "another project's rows are not read");
}
