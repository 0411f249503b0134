package ledger

// TokenStoreReads is how many times the store was read for a token.
func (l *Ledger) TokenStoreReads() int64 { return l.tokens.reads.Load() }

// SetMaxUnknownTokens shrinks the unknown-token cache for a test.
func SetMaxUnknownTokens(n int64) (restore func()) {
	old := maxUnknownTokens
	maxUnknownTokens = n
	return func() { maxUnknownTokens = old }
}
