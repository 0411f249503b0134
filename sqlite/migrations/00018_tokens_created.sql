-- +goose Up
-- A ledger node follows the issued tokens from a watermark on created_at
-- (ledger/tokens.go, publicmask.TokenLister): it lists the tokens created
-- since, not every token at every change. The index holds the hash too
-- (the table's key), so the listing reads it alone.
CREATE INDEX tokens_created ON tokens (created_at);

-- +goose Down
DROP INDEX tokens_created;
