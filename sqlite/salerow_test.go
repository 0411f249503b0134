package sqlite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// A batch whose sales are all plain (no conflict, not late, no shortfall)
// is written without binding those three columns (multiSalePlain), any
// other batch with them; a sale's body hash in lower-case hexadecimal is
// kept as its 32 bytes. Every row must read back as written, whichever
// statement wrote it, and every record give back its hash's text exactly:
// through Idempotency, through Idempotencies, and for a row an older binary
// wrote with the hash as text.
func TestSaleRowsPlainAndNot(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	t0 := time.Unix(1583884800, 0).UTC()
	if err := s.Write(ctx, func(w publicmask.Tx) error {
		return w.SaveOutlet(&publicmask.Outlet{Code: "10000001", Name: "약국", Addr: "서울", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127, Stock: 1000, UpdatedAt: t0})
	}); err != nil {
		t.Fatal(err)
	}
	hexHash := func(k int) string {
		h := sha256.Sum256([]byte(fmt.Sprint(k)))
		return hex.EncodeToString(h[:])
	}
	type row struct {
		k    int
		sale publicmask.Sale
		rec  publicmask.IdemRecord
	}
	var rows []row
	// Batches: all plain; one late sale among plain ones; one with a
	// conflict and a shortfall; all plain again.
	kinds := [][]string{{"", "", ""}, {"", "late", ""}, {"conflict", "", "shortfall"}, {"", ""}}
	k := 0
	for b, batch := range kinds {
		now := t0.Add(time.Duration(b+1) * time.Minute)
		if err := s.Write(ctx, func(w publicmask.Tx) error {
			for _, kind := range batch {
				k++
				sale := publicmask.Sale{ID: fmt.Sprintf("s%03d", k), Outlet: "10000001", TxnID: fmt.Sprintf("t%d", k), SoldAt: now, RecordedAt: now,
					Week: "2020-03-09", Weekend: k%2 == 0, Quantity: 1 + k%2,
					Items: []publicmask.SaleItem{{Role: "buyer", Person: hexKey(k), BirthYear: 1980, Quantity: 1 + k%2}}}
				switch kind {
				case "late":
					sale.Late = true
				case "conflict":
					sale.Conflict = publicmask.ConflictLateWhileOnline
				case "shortfall":
					sale.Late, sale.Shortfall = true, 3
				}
				hash := hexHash(k)
				switch k % 3 {
				case 1:
					hash = "not-a-hex-hash-" + fmt.Sprint(k) // kept as text
				case 2:
					hash = hash[:62] + "AB" // upper case: kept as text too
				}
				rec := publicmask.IdemRecord{Outlet: sale.Outlet, TxnID: sale.TxnID, BodyHash: hash, Response: []byte(fmt.Sprintf(`{"sale_id":%q}`, sale.ID)), CreatedAt: now}
				if err := w.PutIdempotency(rec); err != nil {
					return err
				}
				if err := w.InsertSale(&sale); err != nil {
					return err
				}
				rows = append(rows, row{k, sale, rec})
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// A row as a binary before the hashes' bytes wrote it: the hash as text.
	old := hexHash(999)
	if err := s.Write(ctx, func(w publicmask.Tx) error {
		tx := w.(*tx)
		if _, err := tx.execText(`INSERT INTO sales (id, outlet, txn_id, sold_at, recorded_at, week, weekend, quantity, body_hash, response)
			VALUES ('s999', '10000001', 't999', 1, 1, '2020-03-09', 0, 1, ?, '{"sale_id":"s999"}')`, old); err != nil {
			return err
		}
		tx.noteRecord(publicmask.IdemKey{Outlet: "10000001", TxnID: "t999"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rows = append(rows, row{999, publicmask.Sale{ID: "s999", Outlet: "10000001", TxnID: "t999", Week: "2020-03-09", Quantity: 1},
		publicmask.IdemRecord{Outlet: "10000001", TxnID: "t999", BodyHash: old, Response: []byte(`{"sale_id":"s999"}`)}})

	for _, r := range rows {
		var conflict, hashType string
		var late bool
		var shortfall, weekend, qty int
		if err := s.reader.QueryRowContext(ctx, `SELECT conflict, late, shortfall, weekend, quantity, typeof(body_hash) FROM sales WHERE id = ?`, r.sale.ID).
			Scan(&conflict, &late, &shortfall, &weekend, &qty, &hashType); err != nil {
			t.Fatal(r.sale.ID, err)
		}
		if conflict != r.sale.Conflict || late != r.sale.Late || shortfall != r.sale.Shortfall || (weekend == 1) != r.sale.Weekend || qty != r.sale.Quantity {
			t.Errorf("%s: conflict %q late %v shortfall %d weekend %d quantity %d; want %+v", r.sale.ID, conflict, late, shortfall, weekend, qty, r.sale)
		}
		wantType := "text"
		if r.k != 999 && r.rec.BodyHash == hexHash(r.k) {
			wantType = "blob"
		}
		if hashType != wantType {
			t.Errorf("%s: body_hash of type %s, want %s (hash %q)", r.sale.ID, hashType, wantType, r.rec.BodyHash)
		}
	}
	keys := make([]publicmask.IdemKey, len(rows))
	for i, r := range rows {
		keys[i] = publicmask.IdemKey{Outlet: r.rec.Outlet, TxnID: r.rec.TxnID}
	}
	// Each record, one at a time and all at once, in fresh transactions
	// (nothing known from the writes).
	if err := s.Write(ctx, func(w publicmask.Tx) error {
		for _, r := range rows {
			got, ok, err := w.Idempotency(r.rec.Outlet, r.rec.TxnID)
			if err != nil || !ok || got.BodyHash != r.rec.BodyHash || string(got.Response) != string(r.rec.Response) {
				t.Errorf("Idempotency(%s): %q %q %v %v; want %q", r.rec.TxnID, got.BodyHash, got.Response, ok, err, r.rec.BodyHash)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, func(w publicmask.Tx) error {
		got, err := w.(publicmask.BulkTx).Idempotencies(keys)
		if err != nil {
			return err
		}
		for _, r := range rows {
			g := got[publicmask.IdemKey{Outlet: r.rec.Outlet, TxnID: r.rec.TxnID}]
			if g.BodyHash != r.rec.BodyHash || string(g.Response) != string(r.rec.Response) {
				t.Errorf("Idempotencies(%s): %q %q; want %q", r.rec.TxnID, g.BodyHash, g.Response, r.rec.BodyHash)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// compactHash keeps a hash as bytes exactly when its text is 64 lower-case
// hexadecimal digits, so that hex.EncodeToString gives the text back.
func TestCompactHash(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const digits = "0123456789abcdefABCDEFg/:`G@"
	cases := []string{"", "h1", strings.Repeat("0", 64), strings.Repeat("f", 64), strings.Repeat("a", 63), strings.Repeat("a", 65), strings.Repeat("F", 64)}
	for range 5000 {
		b := make([]byte, 64)
		for i := range b {
			b[i] = digits[rng.IntN(16)]
			if rng.IntN(200) == 0 {
				b[i] = digits[rng.IntN(len(digits))]
			}
		}
		cases = append(cases, string(b))
	}
	var slab []byte
	for _, h := range cases {
		want := len(h) == 64 && strings.Trim(h, "0123456789abcdef") == ""
		switch got := compactHash(h, &slab).(type) {
		case []byte:
			if !want || hex.EncodeToString(got) != h {
				t.Fatalf("compactHash(%q) = %x", h, got)
			}
		case string:
			if want || got != h {
				t.Fatalf("compactHash(%q) = %q", h, got)
			}
		default:
			t.Fatalf("compactHash(%q): %T", h, got)
		}
	}
}
