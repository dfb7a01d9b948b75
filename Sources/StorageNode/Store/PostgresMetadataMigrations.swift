import SplitKeyPostgres

/// The StorageNode's PostgreSQL schema (`metadata.backend: postgres`), shared by every node of
/// a region. Its own schema table and lock key, so it may share a database with nothing else
/// by accident.
enum PostgresMetadataMigrations {
    /// "SKNodeMd" in ASCII.
    static let lockKey: Int64 = 0x534b_4e6f_6465_4d64

    static let migrator = PostgresMigrator(
        migrations: [
            .init(
                version: 1, name: "objects-data-keys",
                statements: [
                    """
                    CREATE TABLE data_keys (
                        id BIGSERIAL PRIMARY KEY,
                        user_id TEXT NOT NULL,
                        wrapped BYTEA NOT NULL,
                        kek_version BIGINT NOT NULL,
                        created_at DOUBLE PRECISION NOT NULL,
                        object_count BIGINT NOT NULL DEFAULT 0
                    )
                    """,
                    "CREATE INDEX data_keys_user ON data_keys (user_id, id)",
                    // Keys list in byte order (COLLATE "C"), as SQLite's BINARY collation does.
                    """
                    CREATE TABLE objects (
                        user_id TEXT NOT NULL,
                        key TEXT COLLATE "C" NOT NULL,
                        blob_name TEXT NOT NULL UNIQUE,
                        write_id BYTEA NOT NULL,
                        data_key_id BIGINT NOT NULL REFERENCES data_keys(id),
                        size BIGINT NOT NULL,
                        created_at DOUBLE PRECISION NOT NULL,
                        PRIMARY KEY (user_id, key)
                    )
                    """,
                ]),
            // The database's identity, made once with it: what the blob store's label names (StoreBinding).
            .init(
                version: 2, name: "store-identity",
                statements: [
                    "CREATE TABLE store_identity (id TEXT NOT NULL)",
                    "INSERT INTO store_identity (id) VALUES (replace(gen_random_uuid()::text, '-', ''))",
                ]),
        ],
        table: "storagenode_schema", lockKey: lockKey, component: "metadata store", migrateCommand: "storagenode migrate")
}
