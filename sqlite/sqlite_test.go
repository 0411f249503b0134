package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/sqlite"
	"github.com/publicmask/publicmask/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) publicmask.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "pm.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestBulkConformance(t *testing.T) {
	storetest.RunBulk(t, func(t *testing.T) publicmask.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "pm.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
