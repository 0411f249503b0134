-- +goose Up
-- A delivery line of a list keeps its record (migration 00007) without its
-- receipt: the receipt (~190 bytes of JSON, a third of the bytes an opening
-- delivery line wrote, WAL and checkpoint together) is made of the row's
-- id, outlet and time and of the outlet's stock after the line, which is
-- kept here instead (BENCHMARKS.md, branch dlv19e). The ledger gives such
-- a line's record (IdemRecord.Delivery) only when it makes the same bytes
-- again from these (ledger.fullRecord); other lines keep their response.
-- Its body hash is kept as the 32 bytes its hexadecimal text stands for.
-- A compact row's response is an empty blob (not NULL), so that a binary
-- from before 00014, which finds records by response IS NOT NULL, finds it
-- and refuses a replay as txn_conflict (the hash is a blob, not its text)
-- rather than delivering the line again. A row holds a record when its
-- response is not NULL, as before.
ALTER TABLE deliveries ADD COLUMN stock INTEGER;
-- +goose Down
-- The receipts made again as the ledger makes them (ledger.StockReceipt's
-- JSON: times in RFC 3339 with their microseconds, trailing zeros cut, at
-- +09:00; the band of an outlet not suspended).
UPDATE deliveries SET response = CAST('{"id":"' || id || '","outlet":"' || outlet || '","at":"' ||
        strftime('%Y-%m-%dT%H:%M:%S', at / 1000000, 'unixepoch', '+9 hours') ||
        CASE WHEN at % 1000000 = 0 THEN '' ELSE '.' || rtrim(printf('%06d', at % 1000000), '0') END || '+09:00' ||
        '","stock":' || stock || ',"remain_stat":"' ||
        CASE WHEN stock >= 100 THEN 'plenty' WHEN stock >= 30 THEN 'some' WHEN stock >= 2 THEN 'few' ELSE 'empty' END ||
        '","stock_at":"' ||
        strftime('%Y-%m-%dT%H:%M:%S', at / 1000000, 'unixepoch', '+9 hours') ||
        CASE WHEN at % 1000000 = 0 THEN '' ELSE '.' || rtrim(printf('%06d', at % 1000000), '0') END || '+09:00' ||
        '"}' AS BLOB)
    WHERE stock IS NOT NULL AND length(response) = 0;
UPDATE deliveries SET body_hash = lower(hex(body_hash)) WHERE typeof(body_hash) = 'blob';
-- Sales' hashes are kept as their 32 bytes too since schema 15's binaries
-- (sqlite compactHash, no migration of its own): back to text as well.
UPDATE sales SET body_hash = lower(hex(body_hash)) WHERE typeof(body_hash) = 'blob';
ALTER TABLE deliveries DROP COLUMN stock;
