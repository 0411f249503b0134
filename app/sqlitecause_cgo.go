//go:build sqlite_cgo

package app

import (
	"errors"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// isSQLiteError: err is (or wraps) an error of the SQLite driver.
func isSQLiteError(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se)
}

// sqliteCause classifies an error of the SQLite driver ("" for none that
// says the store cannot write): the cgo build's (mattn/go-sqlite3).
func sqliteCause(err error) string {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrFull:
			return causeDiskFull
		case sqlite3.ErrIoErr, sqlite3.ErrCantOpen, sqlite3.ErrReadonly, sqlite3.ErrCorrupt, sqlite3.ErrNotADB:
			return causeIO
		}
	}
	return ""
}
