package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/clock"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/policy"
	"github.com/publicmask/publicmask/rrn/rrntest"
	"github.com/publicmask/publicmask/sqlite"
)

// compactLedger is a ledger over the SQLite store at path, at clk's time.
func compactLedger(t *testing.T, path string, clk *clock.Manual) (*sqlite.Store, *ledger.Ledger) {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	keyer, _ := rrntest.Keyer(t)
	l, err := ledger.New(ledger.Config{Store: s, Policy: policy.NewHolder(policy.Standard()), Keyer: keyer,
		Clock: clk, Writers: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return s, l
}

// TestDeliveryRecordsCompact: a delivery list's lines keep their records
// as the stock after each line (migration 00014: response NULL, the hash
// as its 32 bytes), and every replay — in the next list, after a reopen,
// of a single delivery — answers the first receipt byte for byte; a
// txn_id used again with another quantity is refused; a suspended
// outlet's receipt (another band) keeps its response. Fails if the rows
// keep their responses, or if a replay's receipt is made differently.
func TestDeliveryRecordsCompact(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pm.db")
	// Microseconds with trailing zeros, and stock in every band.
	clk := clock.NewManual(time.Date(2020, 3, 11, 8, 0, 0, 120_300_000, publicmask.Seoul))
	s, l := compactLedger(t, path, clk)
	var outlets []publicmask.Outlet
	for i := range 40 {
		outlets = append(outlets, publicmask.Outlet{Code: fmt.Sprintf("%08d", 31000000+i), Name: "약국", Addr: "서울", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127})
	}
	// A code JSON escapes (the ledger takes it; HTTP's validation would
	// not): its receipt is encoding/json's, which 00014's Down could not
	// make again, so it keeps its response.
	escaped := publicmask.Outlet{Code: "A&B<1", Name: "약국", Addr: "서울", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127}
	outlets = append(outlets, escaped)
	if _, err := l.ImportOutlets(ctx, outlets); err != nil {
		t.Fatal(err)
	}
	if _, err := l.SetSuspended(ctx, outlets[3].Code, true); err != nil {
		t.Fatal(err)
	}
	var lines []ledger.DeliveryRequest
	for i, o := range outlets {
		lines = append(lines, ledger.DeliveryRequest{Outlet: o.Code, Quantity: []int{1, 5, 40, 150}[i%4], TxnID: fmt.Sprintf("open-%d", i)})
		if i%5 == 0 { // an outlet twice: the second line's receipt shows both
			lines = append(lines, ledger.DeliveryRequest{Outlet: o.Code, Quantity: 60, TxnID: fmt.Sprintf("more-%d", i)})
		}
	}
	first, err := l.DeliverMany(ctx, lines)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range first {
		if r.Error != nil || r.JSON == nil || r.Replayed {
			t.Fatalf("line %d: %+v", i, r)
		}
	}
	// The rows: compact but for the suspended outlet's.
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var compact, full int
	rows, err := db.QueryContext(ctx, `SELECT outlet, length(response) = 0 AND stock IS NOT NULL, typeof(body_hash) = 'blob' FROM deliveries`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var code string
		var c, b bool
		if err := rows.Scan(&code, &c, &b); err != nil {
			t.Fatal(err)
		}
		switch {
		case c && b:
			compact++
		case (code == outlets[3].Code || code == escaped.Code) && !c:
			full++
		default:
			t.Errorf("outlet %s: compact %v, hash a blob %v", code, c, b)
		}
	}
	rows.Close()
	wantFull := 0
	for _, d := range lines {
		if d.Outlet == outlets[3].Code || d.Outlet == escaped.Code {
			wantFull++
		}
	}
	if compact != len(lines)-wantFull || full != wantFull {
		t.Fatalf("%d compact records, %d full; want %d and %d", compact, full, len(lines)-wantFull, wantFull)
	}
	// A binary from before 00014 looks a delivery's record up by response
	// IS NOT NULL: it must find a compact row, and with a hash that is not
	// the text it compares (so it answers txn_conflict, not a second
	// delivery of the line).
	var oldHash string
	var oldResp []byte
	err = db.QueryRowContext(ctx, `SELECT body_hash, response FROM deliveries WHERE outlet = ? AND txn_id = ? AND response IS NOT NULL LIMIT 1`,
		lines[0].Outlet, lines[0].TxnID).Scan(&oldHash, &oldResp)
	if err != nil {
		t.Fatalf("the pre-00014 look-up does not find a compact record: %v", err)
	}
	if len(oldHash) == 64 || len(oldResp) != 0 {
		t.Fatalf("the pre-00014 look-up reads hash %q, response %q: it would replay, not refuse", oldHash, oldResp)
	}
	replayed := func(l *ledger.Ledger, when string) {
		t.Helper()
		clk.Advance(time.Minute)
		again, err := l.DeliverMany(ctx, lines)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range again {
			if r.Error != nil || !r.Replayed || string(r.JSON) != string(first[i].JSON) {
				t.Fatalf("%s, line %d: %+v %s, want the first answer %s", when, i, r, r.JSON, first[i].JSON)
			}
		}
		// One line at a time (ledger.Deliver: the store's single look-up).
		rec, replayed, err := l.Deliver(ctx, lines[1].Outlet, lines[1].TxnID, lines[1].Quantity)
		if err != nil || !replayed {
			t.Fatalf("%s: single delivery: %v %v", when, replayed, err)
		}
		if b, _ := json.Marshal(rec); string(b) != string(first[1].JSON) {
			t.Fatalf("%s: single delivery's receipt %s, want %s", when, b, first[1].JSON)
		}
		// The same txn_id with another quantity.
		bad, err := l.DeliverMany(ctx, []ledger.DeliveryRequest{{Outlet: lines[0].Outlet, Quantity: lines[0].Quantity + 1, TxnID: lines[0].TxnID}})
		if err != nil || publicmask.ErrorCode(bad[0].Error) != publicmask.ETxnConflict {
			t.Fatalf("%s: another quantity: %v %v", when, bad[0].Error, err)
		}
	}
	replayed(l, "same ledger")
	l.Close(ctx)
	s.Close()
	s, l = compactLedger(t, path, clk)
	replayed(l, "after a reopen")
	l.Close(ctx)
	s.Close()

	// 00014's Down section gives every compact row the response and the
	// hash text the ledger answered.
	src, err := os.ReadFile("migrations/00014_delivery_records_compact.sql")
	if err != nil {
		t.Fatal(err)
	}
	_, down, ok := strings.Cut(string(src), "-- +goose Down")
	if !ok {
		t.Fatal("00014 has no Down section")
	}
	if _, err := db.ExecContext(ctx, down); err != nil {
		t.Fatal(err)
	}
	for i, d := range lines {
		var resp []byte
		var hash string
		err := db.QueryRowContext(ctx, `SELECT response, body_hash FROM deliveries WHERE outlet = ? AND txn_id = ?`, d.Outlet, d.TxnID).Scan(&resp, &hash)
		if err != nil {
			t.Fatal(err)
		}
		if string(resp) != string(first[i].JSON) || len(hash) != 64 || strings.ToLower(hash) != hash {
			t.Errorf("after Down, line %d: %s %q, want %s", i, resp, hash, first[i].JSON)
		}
	}
}
