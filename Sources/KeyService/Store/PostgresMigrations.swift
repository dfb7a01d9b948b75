import SplitKeyPostgres

/// The PostgreSQL schema, as numbered migrations applied in order, each in its own transaction.
///
/// Replicas starting together take one advisory lock first, so only one of them migrates and
/// the others find the work done. A database whose schema is newer than this binary knows is
/// refused rather than used: an old replica must not write rows a newer schema reads
/// differently.
enum PostgresMigrations {
    typealias Migration = PostgresMigrator.Migration

    /// `pg_advisory_lock` key: "SplitKey" in ASCII, so it does not collide with other users of
    /// the database by accident.
    static let lockKey: Int64 = 0x5370_6c69_744b_6579

    static let all: [Migration] = [
        Migration(
            version: 1, name: "users-keks-revocations",
            statements: [
                "CREATE TABLE splitkey_meta (name TEXT PRIMARY KEY, value BYTEA NOT NULL)",
                """
                CREATE TABLE users (
                    id TEXT PRIMARY KEY,
                    home_region TEXT NOT NULL,
                    state TEXT NOT NULL,
                    current_kek_version BIGINT NOT NULL,
                    min_kek_version BIGINT NOT NULL,
                    destroy_after DOUBLE PRECISION,
                    unwrap_locked BOOLEAN NOT NULL,
                    created_at TEXT NOT NULL
                )
                """,
                """
                CREATE TABLE kek_versions (
                    user_id TEXT NOT NULL REFERENCES users(id),
                    version BIGINT NOT NULL,
                    sealed BYTEA NOT NULL,
                    created_at TEXT NOT NULL,
                    wraps BIGINT NOT NULL DEFAULT 0,
                    PRIMARY KEY (user_id, version)
                )
                """,
                "CREATE TABLE revoked_identities (matcher TEXT PRIMARY KEY, created_at TEXT NOT NULL)",
            ]),
        Migration(
            version: 2, name: "unwrap-counts",
            statements: [
                """
                CREATE TABLE unwrap_counts (
                    user_id TEXT NOT NULL,
                    window_start BIGINT NOT NULL,
                    count BIGINT NOT NULL,
                    PRIMARY KEY (user_id, window_start)
                )
                """
            ]),
        Migration(
            version: 3, name: "xks-keys",
            statements: [
                """
                CREATE TABLE xks_keys (
                    id TEXT PRIMARY KEY,
                    usage TEXT NOT NULL,
                    state TEXT NOT NULL,
                    sealed BYTEA NOT NULL,
                    created_at TEXT NOT NULL
                )
                """,
                "CREATE TABLE replica_heartbeats (replica TEXT PRIMARY KEY, status TEXT NOT NULL, seen_at BIGINT NOT NULL)",
            ]),
    ]

    static var latest: Int { migrator.latest }

    static let migrator = PostgresMigrator(
        migrations: all, table: "splitkey_schema", lockKey: lockKey, component: "key store", migrateCommand: "keyservice migrate")
}
