package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/rrn"
)

const metaFingerprint = "secret_fingerprint"

// loadSecret reads the HMAC secret, creating it (0600) on first start when
// allowed. The store keeps only a fingerprint: a node whose secret does not
// match refuses to start, since its person keys would not match anyone's.
func loadSecret(ctx context.Context, st publicmask.Store, path string, mayCreate bool) ([]byte, error) {
	fp, err := st.Meta(ctx, metaFingerprint)
	if err != nil {
		return nil, err
	}
	secret, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && fp == "" && mayCreate:
		secret, err = rrn.NewSecret()
		if err != nil {
			return nil, err
		}
		if err := writePrivate(path, secret); err != nil {
			return nil, fmt.Errorf("write secret: %w", err)
		}
	case errors.Is(err, fs.ErrNotExist) && fp != "":
		return nil, fmt.Errorf("secret file %s is missing but the store was keyed with a secret (fingerprint %s): restore the file; a new secret would make every person unknown", path, fp)
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("secret file %s does not exist: give every node the same --secret-file (create one with: head -c 32 /dev/urandom > FILE; chmod 600 FILE)", path)
	case err != nil:
		return nil, fmt.Errorf("read secret: %w", err)
	}
	if len(secret) < rrn.SecretSize {
		return nil, fmt.Errorf("secret file %s holds %d bytes; at least %d are needed", path, len(secret), rrn.SecretSize)
	}
	if info, err := os.Stat(path); err == nil && info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secret file %s is readable by others (mode %v): chmod 600 it", path, info.Mode().Perm())
	}
	got := rrn.Fingerprint(secret)
	if fp == "" {
		// Nodes may start at once with different secrets: only the first
		// fingerprint written counts, and the others must see it.
		if fp, err = st.InitMeta(ctx, metaFingerprint, got); err != nil {
			return nil, err
		}
	}
	if fp != got {
		return nil, fmt.Errorf("secret file %s does not match the store's fingerprint (%s ≠ %s): every node must use the same secret", path, got, fp)
	}
	return secret, nil
}

// loadAdminToken returns the configured token, or the one kept in path,
// generating it on first start. generated is true when it was just made.
func loadAdminToken(flagValue, path string) (token string, generated bool, err error) {
	if flagValue != "" {
		if len(flagValue) < 16 {
			return "", false, errors.New("--admin-token must be at least 16 characters")
		}
		return flagValue, false, nil
	}
	b, err := os.ReadFile(path)
	if err == nil {
		tok := strings.TrimSpace(string(b))
		if len(tok) < 16 {
			return "", false, fmt.Errorf("admin token file %s holds no usable token (16+ characters): delete it to generate one", path)
		}
		if info, err := os.Stat(path); err == nil && info.Mode().Perm()&0o077 != 0 {
			return "", false, fmt.Errorf("admin token file %s is readable by others (mode %v): chmod 600 it", path, info.Mode().Perm())
		}
		return tok, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("read admin token: %w", err)
	}
	raw := make([]byte, 24)
	rand.Read(raw)
	tok := "pm_admin_" + base64.RawURLEncoding.EncodeToString(raw)
	if err := writePrivate(path, []byte(tok+"\n")); err != nil {
		return "", false, fmt.Errorf("write admin token: %w", err)
	}
	return tok, true, nil
}

func writePrivate(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

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
		n.admin, err = readAdminTokenFile(cfg.AdminTokenFile)
		return err
	case cfg.AdminToken != "":
		n.admin, _, err = loadAdminToken(cfg.AdminToken, "")
		return err
	case !isPostgres(cfg.DB):
		n.admin, n.generated, err = loadAdminToken("", cfg.DB+".admin-token")
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
	return nil
}

// readAdminTokenFile reads --admin-token-file: the token is its first line.
func readAdminTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--admin-token-file: %w", err)
	}
	tok, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	tok = strings.TrimSpace(tok)
	if len(tok) < 16 {
		return "", fmt.Errorf("--admin-token-file %s holds no usable token (16+ characters)", path)
	}
	if info, err := os.Stat(path); err == nil && info.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("--admin-token-file %s is readable by others (mode %v): chmod 600 it", path, info.Mode().Perm())
	}
	return tok, nil
}
