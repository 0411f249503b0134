//go:build !sqlite_cgo

package sqlite

import (
	_ "modernc.org/sqlite" // pure-Go driver: `go build` needs no C toolchain
)

// walBufAvailable: this build can buffer the writer's WAL (walbuf.go).
const walBufAvailable = true
