-- +goose Up
-- A ledger node follows the issued tokens from a watermark on created_at
-- (ledger/tokens.go, publicmask.TokenLister): it lists the tokens created
-- since, not every token at every change, as in
-- sqlite/migrations/00018_tokens_created.sql. The hash is included so the
-- listing can be answered from the index.
CREATE INDEX tokens_created ON tokens (created_at) INCLUDE (hash);

-- +goose Down
DROP INDEX tokens_created;
