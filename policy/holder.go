package policy

import "sync/atomic"

// Holder holds the policy in force so that it can be replaced while the
// service runs (SIGHUP, admin PUT): readers get either the old or the new
// policy, never a mix. A stored policy must not be changed afterwards.
type Holder struct{ p atomic.Pointer[Policy] }

// NewHolder returns a Holder holding p.
func NewHolder(p *Policy) *Holder {
	h := &Holder{}
	h.Store(p)
	return h
}

// Load returns the policy in force.
func (h *Holder) Load() *Policy { return h.p.Load() }

// Store replaces the policy in force. A nil policy is a programming error:
// every reader would then fail.
func (h *Holder) Store(p *Policy) {
	if p == nil {
		panic("policy: Holder.Store(nil)")
	}
	h.p.Store(p)
}
