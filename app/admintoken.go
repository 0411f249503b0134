package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/publicmask/publicmask"
)

const metaAdminTokenHash = "admin_token_hash"

// loadAdmin sets the node's admin token: --admin-token-file, else
// --admin-token, else on SQLite the file beside the database
// (generated on first start). On PostgreSQL without either, the first
// ledger node generates one, prints it once and keeps only its hash in the
// database (as an admin token row); later nodes and restarts find the hash
// there. No node writes a token to a relative data/ directory (§6.9).
func (n *Node) loadAdmin(ctx context.Context) error {
	cfg := n.cfg
	var err error
	switch {
	case cfg.AdminTokenFile != "": // wins over --admin-token
		n.admin, err = ReadAdminTokenFile(cfg.AdminTokenFile)
		n.warnShortAdminToken()
		return err
	case cfg.AdminToken != "":
		// A short token is the operator's choice (DESIGN.md §3 sets no
		// minimum): said so, not refused.
		n.admin = cfg.AdminToken
		n.warnShortAdminToken()
		return nil
	case !isPostgres(cfg.DB):
		n.admin, n.generated, err = loadAdminToken(cfg.DB + ".admin-token")
		return err
	}
	if h, err := n.Store.Meta(ctx, metaAdminTokenHash); err != nil || h != "" {
		return err
	}
	raw := make([]byte, 24)
	rand.Read(raw)
	tok := "pm_admin_" + base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(tok))
	hash := hex.EncodeToString(sum[:])
	// The token row first, then the claim: of several nodes starting at
	// once, the one whose claim wins prints its token; the others revoke
	// theirs. A node dying in between leaves only a token nobody knows.
	now := time.Now()
	if err := n.Store.Write(ctx, func(tx publicmask.Tx) error {
		return tx.PutToken(publicmask.Token{Hash: hash, Role: publicmask.RoleAdmin, CreatedAt: now})
	}); err != nil {
		return fmt.Errorf("store the admin token's hash: %w", err)
	}
	won, err := n.Store.InitMeta(ctx, metaAdminTokenHash, hash)
	if err != nil {
		return err
	}
	if won != hash {
		return n.Store.Write(ctx, func(tx publicmask.Tx) error { return tx.RevokeToken(hash, now) })
	}
	n.admin, n.generated = tok, true
	// Printed now, when it is generated (DESIGN.md §6.14), not with the
	// banner: a start that fails after this point (its address taken, say)
	// would otherwise leave a token that nobody ever saw, and the later
	// starts print none.
	fmt.Fprintf(n.cfg.Out, "  admin token (generated; only its hash is kept in the database, so it is shown this once): %s\n", tok)
	return nil
}

// minAdminToken is the length below which a chosen admin token is easy to
// guess. Such a token is accepted (the operator chose it, and failed
// bearer tokens are rate-limited per address), but said so at start.
const minAdminToken = 16

func (n *Node) warnShortAdminToken() {
	if l := len(n.admin); l > 0 && l < minAdminToken {
		n.cfg.Logger.Warn("the admin token is short and easy to guess: prefer 16 or more random characters, or no token to have one generated",
			"length", l, "min", minAdminToken)
	}
}
