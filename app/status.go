package app

import (
	"context"
	"errors"
	"math"
	"os"

	"github.com/publicmask/publicmask/httpapi"
	"github.com/publicmask/publicmask/ops"
	"github.com/publicmask/publicmask/sqlite"
)

func (n *Node) startStatus(ctx context.Context) {
	n.statusC = ops.NewCollector(n.Registry)
	go n.statusC.Run(ctx)
}

// status is the JSON of /api/v2/status (package ops); brief leaves out
// the history and the stale outlets (?brief=1).
func (n *Node) status(ctx context.Context, brief bool) (any, error) {
	admin := httpapi.IsAdmin(ctx)
	on := ops.Node{Role: n.cfg.Role, Now: n.Clock.Now, Store: n.storeHealth(ctx, admin), Changes: n.Store.OutletChanges, Name: n.nodeName, Brief: brief}
	on.Peers = n.peers
	if n.Refresher != nil {
		on.Snapshot, on.Age = n.Refresher.Current(), n.Refresher.Age
	}
	return ops.Status(ctx, on, n.statusC, admin), nil
}

// storeHealth is the store's line of the status: whether it answers and,
// when durable writes fail (full disk, failed flush, store gone), why and
// since when; the metric publicmask_store_write_errors_total counts them.
// The page is public, so "error" is a fixed sentence per cause: the failed
// write's own text (file paths, SQL, database host names) is shown only to
// the admin, as "detail", like host names (ops.Status); the log has it too.
func (n *Node) storeHealth(ctx context.Context, admin bool) map[string]any {
	storeOK := map[string]any{"ok": true}
	if err := n.Store.Ping(ctx); err != nil {
		storeOK = map[string]any{"ok": false, "error": causeText[causeUnreachable], "cause": causeUnreachable}
		if errors.Is(err, sqlite.ErrFlushFailed) {
			storeOK = map[string]any{"ok": false, "error": causeText[causeFlushFailed], "cause": causeFlushFailed}
		}
		if errors.Is(err, sqlite.ErrFileReplaced) {
			n.writes.observe(err)
			storeOK = map[string]any{"ok": false, "error": causeText[causeReplaced], "cause": causeReplaced}
		}
		if admin {
			storeOK["detail"] = err.Error()
		}
	}
	if cause, since, msg := n.writes.failure(); cause != "" && n.cfg.Role != httpapi.RolePublic {
		storeOK = map[string]any{"ok": false, "error": causeText[cause], "cause": cause, "since": since}
		if admin {
			storeOK["detail"] = msg
		}
	} else if since, longest := n.writes.slowFlush(); !since.IsZero() && storeOK["ok"] == true {
		storeOK = map[string]any{"ok": false, "error": causeText[causeSlowFlush], "cause": causeSlowFlush, "since": since,
			"longest_flush_s": math.Round(longest.Seconds()*10) / 10}
	}
	return storeOK
}

// causeText is what the public status says for each cause of failed writes.
var causeText = map[string]string{
	causeDiskFull:    "the disk is full: durable writes fail",
	causeFlushFailed: "a flush to disk failed: restart the node",
	causeIO:          "the store's file cannot be written",
	causeUnreachable: "store unreachable",
	causeReadOnly:    "the database refuses writes (read-only)",
	causeReplaced:    "the store's file was replaced under the running node: writes refused until it is restarted",
	causeSlowFlush:   "flushes to disk take seconds: sales wait past their deadline",
}

// nodeName identifies this node on the status page: host and listen address.
func (n *Node) nodeName() string {
	host, _ := os.Hostname()
	return host + " " + n.cfg.Addr
}
