package e2e

import (
	"testing"
	"time"
)

// TestPostgresRevokeAcrossNodes: a token revoked through one ledger node
// is refused at once there, and on another ledger node within its token
// cache's lifetime (10 s, docs/deployment.md), not for ever.
func TestPostgresRevokeAcrossNodes(t *testing.T) {
	skipShort(t, "runs two real processes")
	dsn := pgDSN(t)
	common := []string{"--db", dsn, "--secret-file", secretFile(t, t.TempDir()), "--seed", "none", "--clock", "2020-03-11T10:00:00+09:00"}
	l1 := start(t, append([]string{"--role", "ledger"}, common...)...)
	l2 := start(t, append([]string{"--role", "ledger"}, common...)...)
	codes, tokens := setupOutlets(t, l1, 1, 100)
	tok := tokens[codes[0]]
	l2.mustCall("GET", "/api/v2/outlet", tok, nil, nil, 200) // known to l2
	l1.mustCall("POST", "/api/v2/admin/tokens/revoke", adminToken, map[string]string{"token": tok}, nil, 200)
	revoked := time.Now()
	var e errBody
	l1.mustCall("GET", "/api/v2/outlet", tok, nil, &e, 401)
	for {
		code, err := l2.call("GET", "/api/v2/outlet", tok, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if code == 401 {
			break
		}
		if code != 200 || time.Since(revoked) > 12*time.Second {
			t.Fatalf("the other node answers %d %v after the revocation", code, time.Since(revoked))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the other ledger node refused the revoked token %v after the revocation", time.Since(revoked).Round(time.Millisecond))
}
