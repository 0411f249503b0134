-- goose v3.30.0's version table after 'goose up-to 2' of sqlite/migrations (from sqlite3 .dump).
CREATE TABLE goose_db_version (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		version_id INTEGER NOT NULL,
		is_applied INTEGER NOT NULL,
		tstamp TIMESTAMP DEFAULT (datetime('now'))
	);
INSERT INTO goose_db_version VALUES(1,0,1,'2026-11-30 13:28:14');
INSERT INTO goose_db_version VALUES(2,1,1,'2026-11-30 13:28:14');
INSERT INTO goose_db_version VALUES(3,2,1,'2026-11-30 13:28:14');
