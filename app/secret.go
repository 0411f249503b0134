package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/rrn"

	"github.com/publicmask/publicmask/internal/fsx"
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
	if err := checkPrivate("secret file", path); err != nil {
		return nil, err
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

// loadAdminToken returns the token kept in path, generating it on first
// start. generated is true when it was just made.
func loadAdminToken(path string) (token string, generated bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		tok := strings.TrimSpace(string(b))
		if len(tok) < 16 {
			return "", false, fmt.Errorf("admin token file %s holds no usable token (16+ characters): delete it to generate one", path)
		}
		if err := checkPrivate("admin token file", path); err != nil {
			return "", false, err
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

// writePrivate creates path (0600) holding data, durably: the data and the
// directory entry are flushed before it returns, since the store may
// already depend on it (the secret's fingerprint). The file appears whole
// or not at all (written under a temporary name, then linked into place,
// which also refuses to replace an existing file).
func writePrivate(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*") // mode 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil {
		return err
	}
	if err := os.Remove(tmp); err != nil {
		return err
	}
	// The new name is durable only once its directory is.
	return fsx.SyncDir(dir)
}

// ReadAdminTokenFile reads --admin-token-file (serve's and rush's): the
// token is its first line, spaces and the line end trimmed; a file others
// may read is refused.
func ReadAdminTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--admin-token-file: %w", err)
	}
	tok, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", fmt.Errorf("--admin-token-file %s holds no token", path)
	}
	if err := checkPrivate("--admin-token-file", path); err != nil {
		return "", err
	}
	return tok, nil
}
