//go:build !sqlite_cgo

package app

import (
	"errors"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// isSQLiteError: err is (or wraps) an error of the SQLite driver.
func isSQLiteError(err error) bool {
	var se *msqlite.Error
	return errors.As(err, &se)
}

// sqliteCause classifies an error of the SQLite driver ("" for none that
// says the store cannot write).
func sqliteCause(err error) string {
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_FULL:
			return causeDiskFull
		case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return causeIO
		}
	}
	return ""
}
