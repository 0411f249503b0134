package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"reflect"
	"testing"
)

// TestScanValuesAsScan: scanValues, which reads the write transaction's
// rows as the driver gives them (rawexec.go), stores what database/sql's
// Scan stores into every destination type the transaction reads into, and
// fails where Scan fails (a NULL into a string or an integer, text into an
// integer, 2 into a bool).
func TestScanValuesAsScan(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	exprs := []string{`NULL`, `0`, `1`, `2`, `-7`, `9007199254740993`, `1.5`, `-0.25`, `''`, `'text'`, `'가나'`,
		`x''`, `x'00ff10'`, `CAST('12' AS BLOB)`, `'12'`, `'1.5e3'`, `'true'`, `'1'`, `'F'`, `' 12'`, `'99999999999999999999'`}
	dests := []func() any{
		func() any { return new(any) }, func() any { return new([]byte) }, func() any { return new(string) },
		func() any { return new(int64) }, func() any { return new(int) }, func() any { return new(float64) },
		func() any { return new(bool) }, func() any { return new(sql.NullInt64) }, func() any { return new(sql.NullString) },
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, e := range exprs {
		q := `SELECT ` + e
		var raw driver.Value
		err := conn.Raw(func(dc any) error {
			st, err := dc.(driver.ConnPrepareContext).PrepareContext(ctx, q)
			if err != nil {
				return err
			}
			defer st.Close()
			rows, err := st.(driver.StmtQueryContext).QueryContext(ctx, nil)
			if err != nil {
				return err
			}
			defer rows.Close()
			v := make([]driver.Value, 1)
			if err := rows.Next(v); err != nil {
				return err
			}
			raw = v[0]
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for _, mk := range dests {
			want, got := mk(), mk()
			werr := conn.QueryRowContext(ctx, q).Scan(want)
			gerr := scanValues([]driver.Value{raw}, []any{got})
			name := fmt.Sprintf("%s into %T", e, want)
			if (werr == nil) != (gerr == nil) {
				t.Errorf("%s: Scan's error %v, scanValues' %v", name, werr, gerr)
				continue
			}
			if werr == nil && !reflect.DeepEqual(want, got) {
				t.Errorf("%s: Scan stored %#v, scanValues %#v", name, reflect.ValueOf(want).Elem(), reflect.ValueOf(got).Elem())
			}
		}
	}
	// The bytes stored are the destination's own.
	b := []byte{1, 2, 3}
	var into []byte
	var anyInto any
	if err := scanValues([]driver.Value{b, b}, []any{&into, &anyInto}); err != nil {
		t.Fatal(err)
	}
	b[0] = 9
	if into[0] != 1 || anyInto.([]byte)[0] != 1 {
		t.Errorf("scanValues kept the driver's bytes: %v, %v", into, anyInto)
	}
	if err := scanValues([]driver.Value{int64(1)}, []any{new(int64), new(int64)}); err == nil {
		t.Error("one value into two destinations: no error")
	}
}
