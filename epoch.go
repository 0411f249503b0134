package publicmask

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
)

// Epochs of a store's history.
//
// Clients and public nodes hold cursors into the store's history: a
// stream's Last-Event-ID, a near answer's version, a public node's
// watermark. Versions alone cannot tell a store restored from a backup
// (or recreated) from the same store: once the restored store's versions
// pass a client's cursor again, a resume from it would send the changes
// after the wrong point. So every node that writes (roles ledger and all)
// starts a new epoch before its first write: a random id recorded in the
// store's metadata with the version it starts from (NewEpoch, under the
// lock that orders versions, so every later version is above it). The
// record is a chain: a store restored from a backup holds the chain as it
// was at the backup, and the first node started on it adds a new epoch
// from the backup's version. A cursor (epoch, version) belongs to this
// store's history when its epoch is in the chain and its version is at
// most where that epoch ended (the next epoch's start): a cursor of the
// epoch that was current at the backup but beyond the backup's version,
// or of an epoch the store never had, is of another history.

// MetaEpochs is the metadata key of the chain of epochs.
const MetaEpochs = "epochs"

// ErrNoHistory is a store's answer when this node may not read the chain
// of epochs (a PostgreSQL public role without the grant): the node follows
// the store without telling a restored store from the same one.
var ErrNoHistory = errors.New("the chain of epochs is not readable by this role (run deploy/postgres/roles.sql again)")

// keepEpochs bounds the chain (one entry per start of a writing node): a
// cursor of an epoch older than those kept is taken as of another history,
// which costs its client one reload.
const keepEpochs = 64

// Epoch is one epoch: its id and the store version it started from.
type Epoch struct {
	ID    string
	Start int64
}

// Epochs is a store's chain of epochs, oldest first. The zero value is a
// store that has none yet (written before epochs existed): the empty id
// stands for that first stretch of history.
type Epochs []Epoch

// NewEpochID returns a fresh epoch id: 12 hex digits.
func NewEpochID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ParseEpochs reads the chain as stored ("id:start,id:start"); entries it
// cannot read are left out (their cursors then reset, never resume wrongly).
func ParseEpochs(s string) Epochs {
	var es Epochs
	for part := range strings.SplitSeq(s, ",") {
		id, start, ok := strings.Cut(part, ":")
		n, err := strconv.ParseInt(start, 10, 64)
		if !ok || err != nil || !validEpochID(id) {
			continue
		}
		es = append(es, Epoch{id, n})
	}
	return es
}

// String is the chain as stored.
func (es Epochs) String() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(e.ID)
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(e.Start, 10))
	}
	return b.String()
}

// With returns the chain with e appended, the oldest dropped beyond
// keepEpochs.
func (es Epochs) With(e Epoch) Epochs {
	out := append(es[max(0, len(es)+1-keepEpochs):len(es):len(es)], e)
	return out
}

// Latest is the current epoch's id ("" for a store without epochs).
func (es Epochs) Latest() string {
	if len(es) == 0 {
		return ""
	}
	return es[len(es)-1].ID
}

// Holds reports whether the cursor (epoch id, version v) belongs to this
// history: a prefix of it, from which a resume is right.
func (es Epochs) Holds(id string, v int64) bool {
	if id == "" {
		// The stretch before the first epoch (a store written before
		// epochs); a chain that was trimmed has lost it.
		return len(es) == 0 || (len(es) < keepEpochs && v <= es[0].Start)
	}
	for i, e := range es {
		if e.ID == id {
			return i == len(es)-1 || v <= es[i+1].Start
		}
	}
	return false
}

// validEpochID reports whether s can be an epoch id: a short run of
// letters and digits (it travels in event ids and query strings).
func validEpochID(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// ParseCursor reads a client's cursor into the store's history: an event
// id or a since parameter, "VERSION" (from before epochs, or from a store
// without them) or "VERSION@EPOCH". ok is false for anything else.
func ParseCursor(s string) (v int64, epoch string, ok bool) {
	num, epoch, hasEpoch := strings.Cut(s, "@")
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 || (hasEpoch && !validEpochID(epoch)) {
		return 0, "", false
	}
	return v, epoch, true
}

// AppendCursor appends the cursor of version v in epoch ("VERSION@EPOCH",
// or the bare version without an epoch).
func AppendCursor(b []byte, v int64, epoch string) []byte {
	b = strconv.AppendInt(b, v, 10)
	if epoch != "" {
		b = append(b, '@')
		b = append(b, epoch...)
	}
	return b
}
